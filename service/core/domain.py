"""The boundary value types: what goes in and out of the core.

Every plain object that crosses the core's edge (to the gRPC layer, the CLI,
``index_builder`` or ``evaluation``) is defined here, together with the few
rules that belong to the values themselves: the ``default`` bank, the
supported languages, verdict strength, and when a disabled item is active
again. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

#: The bank every store has and that items go to when none is named.
DEFAULT_BANK = "default"

#: Languages the service has calibration and reference sets for (ISO 639-1).
SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "ur", "ps")


class Verdict(enum.Enum):
    NO_MATCH = "no_match"
    REUPLOAD = "reupload"
    NEAR_DUPLICATE = "near_duplicate"
    # The same content in another language.
    TRANSLATION = "translation"
    # The same content reworded in the same language.
    PARAPHRASE = "paraphrase"


# A post's verdict is the strongest among its matches.
VERDICT_STRENGTH = {
    Verdict.REUPLOAD: 3,
    Verdict.NEAR_DUPLICATE: 2,
    # Both come from the semantic signal; between them the score decides.
    Verdict.TRANSLATION: 1,
    Verdict.PARAPHRASE: 1,
    Verdict.NO_MATCH: 0,
}


class Signal(enum.Enum):
    EXACT = "exact"
    LEXICAL = "lexical"
    SEMANTIC = "semantic"


class ReferenceState(enum.Enum):
    ACTIVE = "active"
    DISABLED = "disabled"
    QUARANTINED = "quarantined"
    REMOVED = "removed"


def state_at(state: ReferenceState, disabled_until: float | None, now: float) -> ReferenceState:
    """An item's state at ``now``: a disable whose window has run out is active again.

    The one statement of that rule; the SQL backends state it once more for
    filtering (``store/sqlite/references.py``), and the store contract suite
    checks that the two agree.
    """
    if state is ReferenceState.DISABLED and disabled_until is not None and disabled_until <= now:
        return ReferenceState.ACTIVE
    return state


# -- matching -------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    id: str
    text: str


@dataclass(frozen=True)
class Match:
    reference_id: str
    score: float
    kind: Verdict
    signal: Signal
    bank: str
    labels: tuple[str, ...]
    cosine: float
    reference_lang: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PostResult:
    post_id: str
    verdict: Verdict
    matches: tuple[Match, ...]
    detected_lang: str
    suppressed_by: str = ""
    # The post's exact-match fingerprint (text/normalize.py), so callers can
    # store it; "" when nothing is left to match.
    fingerprint: str = ""


@dataclass(frozen=True)
class MatchOptions:
    """Per-request controls of ``Match``; each can only narrow what the service's operating points return.

    ``verdicts``: the kinds of match to return (empty: every kind); the
    post's verdict is that of its best match left. ``min_scores``: per kind, a
    stricter minimum ``Match.score``. ``metadata``: only references whose
    metadata holds every one of these pairs are candidates (Alegre's context
    filter). None of them applies to suppression banks: an allow-list a
    caller could switch off would not be one.
    """

    verdicts: frozenset[Verdict] = frozenset()
    min_scores: Mapping[Verdict, float] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)

    def keeps(self, match: Match) -> bool:
        if self.verdicts and match.kind not in self.verdicts:
            return False
        return match.score >= self.min_scores.get(match.kind, match.score)

    @property
    def filters_matches(self) -> bool:
        return bool(self.verdicts or self.min_scores)

    @property
    def takes_fingerprint_answers(self) -> bool:
        """An exact copy may be settled from the store: an exact match (score 1) is one this request returns."""
        return (not self.verdicts or Verdict.REUPLOAD in self.verdicts) and self.min_scores.get(Verdict.REUPLOAD, 1.0) <= 1.0


ALL_MATCHES = MatchOptions()


class Measure(enum.Enum):
    """What the cascade measures of a (post, reference) pair, each against its own operating point."""

    FINGERPRINT = "fingerprint"  # 1 when the canonical fingerprints are equal, else 0
    LEXICAL = "lexical"  # shingle containment, after the minimum-content rule
    COSINE = "cosine"  # the embeddings' cosine, against the semantic floor
    WORDS = "words"  # the shorter side's words, against the minimum for a verdict by meaning
    TRANSLATION_SCORE = "translation_score"  # the calibrated scorer (cross-language, with a background)
    MARGIN = "margin"  # the ratio margin (with a background)


@dataclass(frozen=True)
class SignalScore:
    measure: Measure
    score: float
    threshold: float

    @property
    def cleared(self) -> bool:
        """Every measure passes its test at or above its threshold."""
        return self.score >= self.threshold


@dataclass(frozen=True)
class Comparison:
    """Text A judged as a post against text B as a reference, as ``Match`` would judge them.

    ``signals``: every measure that applies to the pair (the translation
    score and margin need a background sample, the score a language pair);
    ``decided_by``: the one whose test gave the verdict (None when a text has
    nothing left to match).
    """

    verdict: Verdict
    reason: str
    lang_a: str
    lang_b: str
    fingerprint_a: str
    fingerprint_b: str
    signals: tuple[SignalScore, ...] = ()
    decided_by: Measure | None = None

    @property
    def fingerprints_equal(self) -> bool:
        return bool(self.fingerprint_a) and self.fingerprint_a == self.fingerprint_b

    def score(self, measure: Measure) -> SignalScore | None:
        return next((s for s in self.signals if s.measure is measure), None)


@dataclass(frozen=True)
class Neighbourhoods:
    """Mean similarity of each side to its k nearest background texts.

    ``post``/``reference``: in the other side's language (as in the margin);
    ``post_own``/``reference_own``: in the side's own language.
    """

    post: float
    reference: float
    post_own: float
    reference_own: float


@dataclass(frozen=True)
class Candidate:
    item: ReferenceItem
    cosine: float
    # Ratio-margin score; None when no background sample is loaded.
    margin: float | None = None
    exact: bool = False
    # Both sides' background neighbourhoods; None without a background sample.
    neighbourhoods: Neighbourhoods | None = None


@dataclass(frozen=True)
class PostFeatures:
    """What the cascade needs to know about a post."""

    post_id: str
    canonical: str
    fingerprint: str
    lang: str


@dataclass(frozen=True)
class PostCandidates:
    """A post as the cascade sees it, and every candidate it is judged against."""

    features: PostFeatures
    candidates: tuple[Candidate, ...]


# -- reference items ------------------------------------------------------------


@dataclass(frozen=True)
class NewReference:
    """A reference item as submitted by an analyst or a loader.

    A *hash-only* item gives its ``fingerprint`` (64 hex digits, the recipe in
    text/normalize.py and the README) and no text: a partner who may not
    share the propaganda itself can share that. It matches exact copies only.
    """

    text: str
    id: str = ""
    lang: str = ""
    bank: str = DEFAULT_BANK
    labels: Sequence[str] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    fingerprint: str = ""


@dataclass(frozen=True)
class ReferenceItem:
    """A stored reference item (or a tombstone: state REMOVED, no text)."""

    vid: int  # dense integer id used by the vector index
    id: str
    text: str
    canonical: str
    fingerprint: str
    declared_lang: str
    detected_lang: str
    bank: str
    labels: tuple[str, ...]
    metadata: Mapping[str, str]
    added_by: str
    created_at: float
    updated_at: float
    state: ReferenceState
    disabled_until: float | None = None
    # Position in the change log (ExportReferences' `after` cursor).
    change_seq: int = 0

    @property
    def lang(self) -> str:
        return self.declared_lang or self.detected_lang


class OnExistingId(enum.Enum):
    """What adding does with an item whose id is already stored (tombstones included)."""

    REFUSE = "refuse"  # the request fails with AlreadyExists (the API)
    SKIP = "skip"  # the stored item is left alone (resumable bulk loads)


class OnDuplicate(enum.Enum):
    """What adding does with an item whose fingerprint is already stored, or earlier in the batch."""

    KEEP = "keep"  # stored anyway: the same text may be filed twice, e.g. in two banks (the API)
    SKIP = "skip"  # not stored: one copy per text is enough to match it (bulk loads)


class OnMissingBank(enum.Enum):
    REFUSE = "refuse"  # the request fails with NotFound (the API)
    CREATE = "create"  # the bank is created, audited (bulk loads and imports name their banks)


class OnInvalid(enum.Enum):
    REFUSE = "refuse"  # the request fails with the item's InvalidInput (the API)
    REJECT = "reject"  # the item is reported in AddOutcome.rejected, the others are added (bulk loads)


@dataclass(frozen=True)
class AddOptions:
    """How the one write path treats what differs between callers; the defaults are the API's."""

    existing_id: OnExistingId = OnExistingId.REFUSE
    duplicate: OnDuplicate = OnDuplicate.KEEP
    missing_bank: OnMissingBank = OnMissingBank.REFUSE
    invalid: OnInvalid = OnInvalid.REFUSE
    # How errors name an item: f"{field}[{position}]".
    field: str = "references"


@dataclass(frozen=True)
class Rejected:
    """An item the write path refused, with the position it had in the batch."""

    position: int
    id: str
    field: str  # within the item: "text", "lang", "labels[0]", ...
    reason: str


@dataclass(frozen=True)
class AddOutcome:
    added: tuple[ReferenceItem, ...] = ()
    existing: tuple[str, ...] = ()  # ids left alone: already stored (OnExistingId.SKIP)
    duplicates: tuple[str, ...] = ()  # ids not stored: same fingerprint as a stored item (OnDuplicate.SKIP)
    rejected: tuple[Rejected, ...] = ()  # OnInvalid.REJECT
    banks_created: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReferenceQuery:
    """A filtered, paged listing of reference items."""

    bank: str = ""
    state: ReferenceState | None = None  # None: every state
    label: str = ""
    page_size: int = 0  # 0: the default page
    page_token: str = ""
    # Items whose text contains this (compared in canonical form: case, diacritics
    # and letter variants do not matter), or whose id is exactly this.
    text: str = ""


@dataclass(frozen=True)
class StateChange:
    """What a disable, enable or release did: ids changed, and ids with no live item."""

    changed: tuple[str, ...]
    not_found: tuple[str, ...]


# -- banks ----------------------------------------------------------------------


class BankKind(enum.Enum):
    NORMAL = "normal"
    SUPPRESSION = "suppression"


@dataclass(frozen=True)
class Bank:
    name: str
    description: str = ""
    enabled: bool = True
    kind: BankKind = BankKind.NORMAL
    # Threshold field name -> value; only what differs from the defaults.
    thresholds: Mapping[str, float] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    created_by: str = ""
    # Live (not removed) items; filled in by listings.
    item_count: int = 0
    # Every review of the bank's items (ReportMatch); filled in by listings.
    feedback: FeedbackSummary = field(default_factory=lambda: FeedbackSummary())
    # The share of posts the bank's items may match (gradual roll-out,
    # matching/rollout.py); 1: every post.
    match_share: float = 1.0


@dataclass(frozen=True)
class BankChanges:
    """An update to a bank: None leaves a field as it is."""

    description: str | None = None
    enabled: bool | None = None
    kind: BankKind | None = None
    set_thresholds: Mapping[str, float] = field(default_factory=dict)
    clear_thresholds: tuple[str, ...] = ()
    match_share: float | None = None


# -- feedback, audit, stats -----------------------------------------------------


class FeedbackVerdict(enum.Enum):
    TRUE_POSITIVE = "true_positive"
    FALSE_POSITIVE = "false_positive"


@dataclass(frozen=True)
class Feedback:
    reference_id: str
    post_id: str
    verdict: FeedbackVerdict
    note: str = ""
    reporter: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class FeedbackSummary:
    true_positives: int = 0
    false_positives: int = 0

    @property
    def reviewed(self) -> int:
        return self.true_positives + self.false_positives

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP); None until someone has reviewed a match."""
        return self.true_positives / self.reviewed if self.reviewed else None


@dataclass(frozen=True)
class DailyFeedback:
    """Reviewers' verdicts on one UTC day (``day`` is its first second, epoch seconds)."""

    day: float
    feedback: FeedbackSummary


@dataclass(frozen=True)
class BankStats:
    """A bank's measured precision: every review of its items, and day by day over the recent days."""

    bank: str
    feedback: FeedbackSummary
    daily: tuple[DailyFeedback, ...] = ()


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: float
    actor: str
    action: str
    target: str
    old: Any
    new: Any


@dataclass(frozen=True)
class AuditQuery:
    """Audit entries newest first, filtered; empty strings match everything."""

    target: str = ""
    actor: str = ""
    action: str = ""
    since: float | None = None
    page_size: int = 0
    page_token: str = ""


# The review queue's order (curation/match_log.py): verdicts by meaning first,
# where false positives are, then lexical near-duplicates, then exact copies.
REVIEW_ORDER = {Verdict.PARAPHRASE: 0, Verdict.TRANSLATION: 1, Verdict.NEAR_DUPLICATE: 2, Verdict.REUPLOAD: 3}


@dataclass(frozen=True)
class LoggedMatch:
    """One flagged match as the service's match log kept it, with the reviewers' latest decision on the pair."""

    seq: int
    at: float
    post_id: str
    post_text: str
    post_lang: str
    match: Match
    review: FeedbackVerdict | None = None


@dataclass(frozen=True)
class MatchLogQuery:
    """The review queue: logged matches in review order (REVIEW_ORDER, then newest first), filtered."""

    bank: str = ""
    verdict: Verdict | None = None
    label: str = ""
    # False: only pairs no reviewer has decided on yet.
    include_reviewed: bool = False
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class MatchRate:
    """An item's recent and usual match rates (matches per post)."""

    recent_matches: int
    recent_posts: int
    usual_matches: int
    usual_posts: int

    @property
    def recent_rate(self) -> float:
        return self.recent_matches / self.recent_posts if self.recent_posts else 0.0

    @property
    def usual_rate(self) -> float:
        return self.usual_matches / self.usual_posts if self.usual_posts else 0.0


@dataclass(frozen=True)
class ReferenceStats:
    reference_id: str
    state: ReferenceState
    feedback: FeedbackSummary
    match_rate: MatchRate


@dataclass(frozen=True)
class CurationStats:
    by_state: Mapping[ReferenceState, int]
    banks: int
    index_size: int
    quarantine_enabled: bool
    # The operating points in force (matching/bank_size.py): references per
    # language they were picked for, the size they are for, and per direction
    # "post>reference" the expected FP per post at them.
    thresholds_bank_by_lang: Mapping[str, int] = field(default_factory=dict)
    thresholds_sized_for: int = 0
    expected_fp_per_post: Mapping[str, float] = field(default_factory=dict)
    target_fp_per_post: float = 0.0
    thresholds_follow_bank: bool = False

    @property
    def thresholds_bank_size(self) -> int:
        return sum(self.thresholds_bank_by_lang.values())


# -- exchange and index loading -------------------------------------------------


@dataclass(frozen=True)
class ImportSummary:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    # Ids left alone: removed here (tombstones are final) or with different text.
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportPage:
    """Items and tombstones changed after a cursor, and the cursor to pass next time."""

    items: tuple[ReferenceItem, ...]
    next_cursor: int


@dataclass(frozen=True)
class LoadedIndex:
    """What loading an index artifact did: which artifact, and the store delta applied."""

    path: str
    version: str
    model_id: str
    index_type: str
    generation: int
    recall_at_10: float | None
    added: int
    removed: int
    size: int
