"""Plain domain objects shared by the core, the gRPC layer and index_builder."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping, Sequence


class Verdict(enum.Enum):
    NO_MATCH = "no_match"
    REUPLOAD = "reupload"
    NEAR_DUPLICATE = "near_duplicate"
    TRANSLATION = "translation"


# Strongest first: a post's verdict is the strongest among its matches.
VERDICT_STRENGTH = {
    Verdict.REUPLOAD: 3,
    Verdict.NEAR_DUPLICATE: 2,
    Verdict.TRANSLATION: 1,
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


DEFAULT_BANK = "default"


@dataclass(frozen=True)
class Post:
    id: str
    text: str


@dataclass(frozen=True)
class NewReference:
    """A reference item as submitted by an analyst or a loader."""

    text: str
    id: str = ""
    lang: str = ""
    bank: str = DEFAULT_BANK
    labels: Sequence[str] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReferenceItem:
    """A stored reference item."""

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
