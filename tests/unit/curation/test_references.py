"""``References``: the one write path (``add`` and every AddOptions choice), removal, state changes, edits, listing.

Over a real SQLite store and live index with the hashing test double, so
"matchable" below means what ``Engine.match`` really returns.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pytest

from service.core import (
    AddOptions, AlreadyExists, InvalidInput, LimitExceeded, Limits, NewReference, NotFound, OnDuplicate, OnExistingId,
    OnInvalid, OnMissingBank, Post, ReferenceQuery, ReferenceState, open_offline, prepare_text
)
from service.core.curation.references import References, refresh_vectors
from tests.support.curation_factories import (
    ACTOR, config_at, QUICK_QUARANTINE, TEXTS, Opened, add, added_ids, audit_entries, engine_at, matched_ids, quarantine, ref
)
from tests.support.doubles import HashingEmbedder

# The first text with only its case and punctuation changed: the same fingerprint.
VARIANT = "THE FIGHTERS will gather at the old bridge, before dawn on Friday!!!"


@pytest.fixture
def refs(opened: Opened) -> References:
    return opened.curation.references


def field_of(call: Callable[[], object]) -> str:
    with pytest.raises(InvalidInput) as exc:
        call()
    return exc.value.field


def test_variant_shares_the_fingerprint() -> None:
    # The duplicate tests below rely on it.
    assert prepare_text(VARIANT).fingerprint == prepare_text(TEXTS[0]).fingerprint


# -- existing id ----------------------------------------------------------------


def test_existing_id_refused_stores_nothing_of_the_request(opened: Opened, refs: References) -> None:
    add(opened.curation, ref("a"))
    with pytest.raises(AlreadyExists) as exc:
        add(opened.curation, ref("b", 1), ref("a", 2))
    assert exc.value.key == "a"
    with pytest.raises(NotFound):
        refs.get("b")
    assert refs.get("a").text == TEXTS[0]


def test_existing_id_skipped_is_reported_and_stored_item_untouched(opened: Opened, refs: References) -> None:
    before = add(opened.curation, ref("a", labels=["org:first"])).added[0]
    outcome = add(opened.curation, ref("a", 2, labels=["org:second"]), ref("b", 1), existing_id=OnExistingId.SKIP)
    assert outcome.existing == ("a",)
    assert added_ids(outcome) == ["b"]
    after = refs.get("a")
    assert (after.text, after.labels, after.change_seq) == (TEXTS[0], ("org:first",), before.change_seq)


def test_a_removed_id_is_never_reused(opened: Opened, refs: References) -> None:
    add(opened.curation, ref("a"))
    refs.remove(["a"], actor=ACTOR)
    with pytest.raises(AlreadyExists):
        add(opened.curation, ref("a", 1))
    # Skipping counts the tombstone as stored too.
    assert add(opened.curation, ref("a", 1), existing_id=OnExistingId.SKIP).existing == ("a",)


# -- duplicate fingerprint ------------------------------------------------------


def test_duplicate_of_stored_item_kept_by_default(opened: Opened, refs: References) -> None:
    add(opened.curation, ref("a"))
    outcome = add(opened.curation, ref("b", text=VARIANT))
    assert added_ids(outcome) == ["b"] and outcome.duplicates == ()
    assert refs.get("b").fingerprint == refs.get("a").fingerprint


def test_duplicate_of_stored_item_skipped(opened: Opened, refs: References) -> None:
    add(opened.curation, ref("a"))
    outcome = add(opened.curation, ref("b", text=VARIANT), ref("c", 1), duplicate=OnDuplicate.SKIP)
    assert outcome.duplicates == ("b",)
    assert added_ids(outcome) == ["c"]
    with pytest.raises(NotFound):
        refs.get("b")


def test_duplicates_within_one_batch_kept(opened: Opened) -> None:
    outcome = add(opened.curation, ref("a"), ref("b", text=VARIANT), duplicate=OnDuplicate.KEEP)
    assert added_ids(outcome) == ["a", "b"] and outcome.duplicates == ()


def test_duplicates_within_one_batch_skipped_keep_the_first(opened: Opened) -> None:
    outcome = add(opened.curation, ref("a"), ref("b", 1), ref("c", text=VARIANT), duplicate=OnDuplicate.SKIP)
    assert added_ids(outcome) == ["a", "b"]
    assert outcome.duplicates == ("c",)


def test_text_of_a_removed_item_is_not_a_duplicate(opened: Opened, refs: References) -> None:
    add(opened.curation, ref("a"))
    refs.remove(["a"], actor=ACTOR)
    assert added_ids(add(opened.curation, ref("b", text=VARIANT), duplicate=OnDuplicate.SKIP)) == ["b"]


# -- missing bank ---------------------------------------------------------------


def test_missing_bank_refused(opened: Opened, refs: References) -> None:
    with pytest.raises(NotFound) as exc:
        add(opened.curation, ref("a", bank="gifct"))
    assert (exc.value.kind, exc.value.key) == ("bank", "gifct")
    assert "gifct" not in opened.curation.banks.catalog.names()
    with pytest.raises(NotFound):
        refs.get("a")


def test_missing_bank_created_and_audited_with_the_actor(opened: Opened, refs: References) -> None:
    outcome = add(opened.curation, ref("a", bank="gifct"), ref("b", 1, bank="gifct"), actor="loader:x", missing_bank=OnMissingBank.CREATE)
    assert outcome.banks_created == ("gifct",)
    assert added_ids(outcome) == ["a", "b"] and refs.get("a").bank == "gifct"
    assert opened.curation.banks.get("gifct").created_by == "loader:x"
    [entry] = audit_entries(opened.curation, target="bank:gifct", action="bank.create")
    assert entry.actor == "loader:x"
    # A second load into the bank creates nothing.
    assert add(opened.curation, ref("c", 2, bank="gifct"), missing_bank=OnMissingBank.CREATE).banks_created == ()


def test_missing_bank_with_a_bad_name_is_invalid(opened: Opened) -> None:
    assert field_of(lambda: add(opened.curation, ref("a", bank="no spaces"), missing_bank=OnMissingBank.CREATE)) == "references[0].bank"


# -- invalid items --------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (NewReference(id="x", text="   "), "references[1].text"),
        (NewReference(id="x", text=TEXTS[2], lang="fr"), "references[1].lang"),
        (NewReference(id="x", text=TEXTS[2], labels=["org:ok", "nonamespace"]), "references[1].labels[1]"),
        (NewReference(id="x", text="x" * 40_000), "references[1].text"),
    ],
)
def test_invalid_item_refused_names_the_field(opened: Opened, refs: References, bad: NewReference, field: str) -> None:
    assert field_of(lambda: add(opened.curation, ref("a"), bad)) == field
    # All or nothing: the valid item before it was not stored either.
    with pytest.raises(NotFound):
        refs.get("a")


def test_field_option_names_the_list(opened: Opened) -> None:
    assert field_of(lambda: add(opened.curation, ref("a", lang="xx"), field="items")) == "items[0].lang"


def test_invalid_items_rejected_with_position_field_and_reason(opened: Opened) -> None:
    outcome = add(
        opened.curation,
        ref("a"),
        ref("bad-text", text=""),
        ref("bad-label", 1, labels=["org:ok", "orgs:typo"]),
        ref("b", 2),
        invalid=OnInvalid.REJECT,
    )
    assert added_ids(outcome) == ["a", "b"]
    assert [(r.position, r.id, r.field) for r in outcome.rejected] == [(1, "bad-text", "text"), (2, "bad-label", "labels[1]")]
    assert "empty" in outcome.rejected[0].reason and "orgs" in outcome.rejected[1].reason


def test_text_with_nothing_left_after_normalisation_is_refused(opened: Opened) -> None:
    with pytest.raises(InvalidInput) as exc:
        add(opened.curation, ref("a", text="https://example.com/watch?v=1 😀🔥"))
    assert exc.value.field == "references[0].text" and "nothing left" in exc.value.message


def test_an_id_twice_in_one_request(opened: Opened, refs: References) -> None:
    assert field_of(lambda: add(opened.curation, ref("a"), ref("a", 1))) == "references[1].id"
    outcome = add(opened.curation, ref("a"), ref("a", 1), invalid=OnInvalid.REJECT)
    assert added_ids(outcome) == ["a"] and [(r.position, r.field) for r in outcome.rejected] == [(1, "id")]
    assert refs.get("a").text == TEXTS[0]


def test_empty_id_gets_a_generated_one(opened: Opened, refs: References) -> None:
    outcome = add(opened.curation, ref(""), ref("", 1))
    first, second = added_ids(outcome)
    assert first and second and first != second
    assert refs.get(first).text == TEXTS[0]


def test_count_limit(tmp_path: Path) -> None:
    with engine_at(tmp_path, limits=Limits(max_references_per_request=2)) as o:
        with pytest.raises(LimitExceeded) as exc:
            add(o.curation, ref("a"), ref("b", 1), ref("c", 2))
        assert exc.value.field == "references"
        assert len(add(o.curation, ref("a"), ref("b", 1)).added) == 2
        # None at all is invalid but not over the limit.
        with pytest.raises(InvalidInput) as empty:
            add(o.curation)
        assert not isinstance(empty.value, LimitExceeded) and empty.value.field == "references"


def test_added_fields_are_stored(opened: Opened, refs: References) -> None:
    add(opened.curation, ref("a", lang="en", labels=[" ORG:Example", "org:Example"], metadata={"src": "t"}))
    item = refs.get("a")
    assert (item.declared_lang, item.bank, item.labels, dict(item.metadata), item.added_by) == ("en", "default", ("org:Example",), {"src": "t"}, ACTOR)
    assert item.state is ReferenceState.ACTIVE


# -- matching sees every write at once ------------------------------------------


def test_added_item_matches_at_once_and_removed_never_again(opened: Opened, refs: References) -> None:
    assert matched_ids(opened.engine, VARIANT) == []
    add(opened.curation, ref("a"), ref("b", 1))
    assert matched_ids(opened.engine, VARIANT) == ["a"]
    assert refs.remove(["a", "missing"], actor=ACTOR) == (["a"], ["missing"])
    assert matched_ids(opened.engine, VARIANT) == []
    assert matched_ids(opened.engine, TEXTS[1]) == ["b"]
    tombstone = refs.get("a")
    assert (tombstone.state, tombstone.text) == (ReferenceState.REMOVED, "")
    # Removing again finds nothing live.
    assert refs.remove(["a"], actor=ACTOR) == ([], ["a"])


def test_removed_item_stays_unmatched_after_a_restart(tmp_path: Path) -> None:
    with engine_at(tmp_path) as o:
        add(o.curation, ref("a"), ref("b", 1))
        o.curation.references.remove(["a"], actor=ACTOR)
    with engine_at(tmp_path) as o:
        assert matched_ids(o.engine, VARIANT) == []
        assert matched_ids(o.engine, TEXTS[1]) == ["b"]


def test_offline_adds_are_matched_by_the_next_engine(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    with open_offline(config, HashingEmbedder()) as offline:
        options = AddOptions(missing_bank=OnMissingBank.CREATE, duplicate=OnDuplicate.SKIP, existing_id=OnExistingId.SKIP)
        outcome = offline.references.add([ref("a"), ref("b", 1, bank="new")], actor="build", options=options)
        assert outcome.banks_created == ("new",)
    with engine_at(tmp_path) as o:
        assert matched_ids(o.engine, VARIANT) == ["a"]


# -- removal and state changes --------------------------------------------------


@pytest.mark.parametrize("operation", ["remove", "disable", "enable", "release"])
@pytest.mark.parametrize(("ids", "field"), [([], "ids"), ([""], "ids[0]"), (["a", ""], "ids[1]")])
def test_every_id_list_is_checked_alike(refs: References, operation: str, ids: list[str], field: str) -> None:
    calls: dict[str, Callable[[], object]] = {
        "remove": lambda: refs.remove(ids, actor=ACTOR),
        "disable": lambda: refs.disable(ids, until=None, actor=ACTOR),
        "enable": lambda: refs.enable(ids, actor=ACTOR),
        "release": lambda: refs.release(ids, actor=ACTOR),
    }
    assert field_of(calls[operation]) == field


def test_disable_in_the_past_refused(opened: Opened, refs: References) -> None:
    add(opened.curation, ref("a"))
    assert field_of(lambda: refs.disable(["a"], until=time.time() - 1, actor=ACTOR)) == "until"
    assert refs.get("a").state is ReferenceState.ACTIVE


def test_disable_and_enable(opened: Opened, refs: References) -> None:
    add(opened.curation, ref("a"))
    change = refs.disable(["a", "missing"], until=None, actor=ACTOR)
    assert (change.changed, change.not_found) == (("a",), ("missing",))
    assert refs.get("a").state is ReferenceState.DISABLED and refs.get("a").disabled_until is None
    assert matched_ids(opened.engine, TEXTS[0]) == []
    assert refs.enable(["a"], actor=ACTOR).changed == ("a",)
    assert matched_ids(opened.engine, TEXTS[0]) == ["a"]
    # Enabling an active item changes nothing.
    assert refs.enable(["a"], actor=ACTOR).changed == ()


def test_disable_until_runs_out_by_itself(opened: Opened, refs: References) -> None:
    add(opened.curation, ref("a"))
    # Long enough for the checks before it runs out, even on a loaded machine.
    until = time.time() + 0.6
    refs.disable(["a"], until=until, actor=ACTOR)
    item = refs.get("a")
    assert (item.state, item.disabled_until) == (ReferenceState.DISABLED, until)
    assert matched_ids(opened.engine, TEXTS[0]) == []
    time.sleep(max(0.0, until - time.time()) + 0.05)
    assert refs.get("a").state is ReferenceState.ACTIVE
    assert matched_ids(opened.engine, TEXTS[0]) == ["a"]


def test_release_only_from_quarantine(tmp_path: Path) -> None:
    with engine_at(tmp_path, quarantine=QUICK_QUARANTINE) as o:
        refs = o.curation.references
        add(o.curation, ref("a"), ref("b", 1))
        refs.disable(["b"], until=None, actor=ACTOR)
        quarantine(o, TEXTS[0])
        assert o.state("a") is ReferenceState.QUARANTINED
        # Enable is not release, and release does not enable.
        assert refs.enable(["a"], actor=ACTOR).changed == ()
        assert refs.release(["b"], actor=ACTOR).changed == ()
        assert o.state("b") is ReferenceState.DISABLED
        assert refs.release(["a"], actor=ACTOR).changed == ("a",)
        assert o.state("a") is ReferenceState.ACTIVE
        assert matched_ids(o.engine, TEXTS[0]) == ["a"]


# -- labels and metadata --------------------------------------------------------


def test_update_labels_and_metadata(opened: Opened, refs: References) -> None:
    add(opened.curation, ref("a", labels=["org:one", "type:claim"], metadata={"keep": "1", "drop": "2"}))
    item = refs.update(
        "a",
        add_labels=[" SOURCE:gifct ", "source:gifct", "org:one"],
        remove_labels=["TYPE:claim"],
        set_metadata={"new": "3", "keep": "changed"},
        remove_metadata=["drop"],
        actor=ACTOR,
    )
    assert item.labels == ("org:one", "source:gifct")
    assert dict(item.metadata) == {"keep": "changed", "new": "3"}
    assert refs.get("a").labels == item.labels
    [entry] = audit_entries(opened.curation, target="a", action="update")
    assert entry.old["labels"] == ["org:one", "type:claim"] and entry.new["labels"] == ["org:one", "source:gifct"]


@pytest.mark.parametrize(("kwargs", "field"), [({"add_labels": ["orgs:x"]}, "add_labels[0]"), ({"remove_labels": ["ok:", "x"]}, "remove_labels[0]")])
def test_update_checks_label_namespaces(opened: Opened, refs: References, kwargs: dict[str, Any], field: str) -> None:
    add(opened.curation, ref("a", labels=["org:one"]))
    assert field_of(lambda: refs.update("a", actor=ACTOR, **kwargs)) == field
    assert refs.get("a").labels == ("org:one",)


def test_update_of_removed_or_unknown_item_is_not_found(opened: Opened, refs: References) -> None:
    add(opened.curation, ref("a"))
    refs.remove(["a"], actor=ACTOR)
    for ref_id in ("a", "never"):
        with pytest.raises(NotFound):
            refs.update(ref_id, add_labels=["org:x"], actor=ACTOR)
    assert field_of(lambda: refs.update("", actor=ACTOR)) == "id"
    assert field_of(lambda: refs.get("")) == "id"


# -- listing --------------------------------------------------------------------


def test_list_pages_with_next_page_token(opened: Opened, refs: References) -> None:
    add(opened.curation, *(ref(f"r{i}", i) for i in range(5)))
    seen: list[str] = []
    tokens: list[str] = []
    token = ""
    while True:
        items, token = refs.list(ReferenceQuery(page_size=2, page_token=token))
        seen += [i.id for i in items]
        tokens.append(token)
        if not token:
            break
    assert seen == [f"r{i}" for i in range(5)]
    assert len(tokens) == 3 and tokens[-1] == ""


def test_list_filters(opened: Opened, refs: References) -> None:
    opened.curation.banks.ensure(["other"], actor=ACTOR, why="test")
    add(opened.curation, ref("a", labels=["org:x"]), ref("b", 1, bank="other"), ref("c", 2, labels=["org:x"]))
    refs.disable(["c"], until=None, actor=ACTOR)

    def ids(**query: object) -> list[str]:
        return [i.id for i in refs.list(ReferenceQuery(**query))[0]]  # type: ignore[arg-type]

    assert ids(bank="other") == ["b"]
    assert ids(label="org:x") == ["a", "c"]
    assert ids(state=ReferenceState.DISABLED) == ["c"]
    assert ids() == ["a", "b", "c"]


@pytest.mark.parametrize(("query", "field"), [(ReferenceQuery(page_token="abc"), "page_token"), (ReferenceQuery(page_size=-1), "page_size")])
def test_list_refuses_bad_paging(refs: References, query: ReferenceQuery, field: str) -> None:
    assert field_of(lambda: refs.list(query)) == field


# -- vectors --------------------------------------------------------------------


def test_refresh_vectors_re_embeds_items_of_another_model(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    old, new = HashingEmbedder(32), HashingEmbedder(64)
    with open_offline(config, old) as offline:
        offline.references.add([ref("a"), ref("b", 1), ref("c", 2)], actor=ACTOR)
        offline.references.remove(["c"], actor=ACTOR)
        progress: list[tuple[int, int]] = []
        assert refresh_vectors(offline.store, new, lambda done, total: progress.append((done, total))) == 2
        assert progress[-1] == (2, 2)
        assert [i.id for batch in offline.store.vectors.needing_vectors(new.model_id) for i in batch] == []
        assert len(offline.store.vectors.indexable_vids(new.model_id)) == 2
        # Nothing left to do the second time.
        assert refresh_vectors(offline.store, new) == 0


def test_state_change_on_an_unknown_id_is_reported_not_raised(refs: References) -> None:
    assert refs.disable(["nope"], until=None, actor=ACTOR).not_found == ("nope",)
    assert refs.enable(["nope"], actor=ACTOR).not_found == ("nope",)
    assert refs.release(["nope"], actor=ACTOR).not_found == ("nope",)


def test_unknown_bank_in_match_is_not_found(opened: Opened) -> None:
    with pytest.raises(NotFound):
        opened.engine.match([Post("p", TEXTS[0])], banks=["nope"])


def test_disabled_item_can_be_removed(opened: Opened, refs: References) -> None:
    add(opened.curation, ref("a"))
    refs.disable(["a"], until=None, actor=ACTOR)
    assert refs.remove(["a"], actor=ACTOR) == (["a"], [])
    assert refs.get("a").state is ReferenceState.REMOVED


def test_list_by_text_ignores_case_diacritics_and_letter_variants_and_finds_ids(opened: Opened, refs: References) -> None:
    urdu = "ہمارے بھائی جمعہ کی رات شمالی دروازے کی چوکی پر حملہ کریں گے۔"
    add(opened.curation, ref("a"), ref("ref-b2", 1), ref("ur", text=urdu), ref("50%_off", 2))

    def found(text: str) -> list[str]:
        return [i.id for i in refs.list(ReferenceQuery(text=text))[0]]

    assert found("THE OLD BRIDGE") == ["a"]
    # Arabic yeh and kaf for the Urdu ones, and a stray diacritic: the canonical forms still contain each other.
    assert found("شمالي دروازے كی") == ["ur"]
    assert found("ref-b2") == ["ref-b2"]  # an exact id, though no text contains it
    assert found("50%_off") == ["50%_off"]  # LIKE's wildcards are literal
    assert found("%") == []
    assert found("nothing like this anywhere") == []
