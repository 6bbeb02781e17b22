"""Hash-only references: a fingerprint and no text, matched on the exact path only, exported and imported as such.

Over a real SQLite store and live index with the hashing test double.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from service.core import InvalidInput, NewReference, Post, Verdict, open_offline, prepare_text, reference_from_record, reference_to_record
from service.core.curation.references import refresh_vectors
from tests.support.curation_factories import ACTOR, TEXTS, Opened, add, config_at, engine_at, matched_ids
from tests.support.doubles import HashingEmbedder

SHARED = prepare_text(TEXTS[0]).fingerprint
# The shared text with its case and punctuation changed: the same fingerprint.
VARIANT = TEXTS[0].upper().replace(" ", "  ") + "!!"


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts):  # type: ignore[no-untyped-def]
        self.texts += list(texts)
        return super().embed(texts)


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Opened]:
    with engine_at(tmp_path) as o:
        yield o


def test_a_hash_only_item_matches_exact_copies_of_the_text_it_was_made_from(opened: Opened) -> None:
    [item] = add(opened.curation, NewReference(text="", id="h", fingerprint=SHARED.upper(), labels=("org:partner",))).added
    assert (item.text, item.fingerprint) == ("", SHARED)  # stored in lower case, as computed
    assert matched_ids(opened.engine, VARIANT) == ["h"]
    [result] = opened.engine.match([Post("p", VARIANT)], exhaustive=True)
    assert result.verdict is Verdict.REUPLOAD and [m.reference_id for m in result.matches] == ["h"]
    # Anything but an exact copy: no text to compare, no vector to search.
    assert matched_ids(opened.engine, TEXTS[0].replace("Friday", "Saturday")) == []


def test_it_is_stored_without_a_vector_and_never_embedded(tmp_path: Path) -> None:
    model = CountingEmbedder()
    with open_offline(config_at(tmp_path), model) as offline:
        offline.references.add([NewReference(text="", id="h", fingerprint=SHARED), NewReference(text=TEXTS[1], id="t")], actor=ACTOR)
        assert model.texts == [prepare_text(TEXTS[1]).cleaned]
        vids = offline.store.vectors.indexable_vids(model.model_id).tolist()
        assert vids == [offline.store.references.get("t").vid]
        # A model change re-embeds the items with a text only.
        assert refresh_vectors(offline.store, HashingEmbedder(32)) == 1
        # And it does not make the bank larger for the semantic operating points.
        assert offline.store.references.counts_by_lang() == {"en": 1}


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (NewReference(text=TEXTS[0], fingerprint=SHARED), "references[0].fingerprint"),
        (NewReference(text="", fingerprint="abc123"), "references[0].fingerprint"),
        (NewReference(text="", fingerprint="g" * 64), "references[0].fingerprint"),
        (NewReference(text=""), "references[0].text"),
    ],
)
def test_bad_hash_only_items_are_refused_naming_the_field(opened: Opened, item: NewReference, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        add(opened.curation, item)
    assert err.value.field == field


def test_a_text_and_a_hash_only_item_of_it_are_duplicates(opened: Opened) -> None:
    add(opened.curation, NewReference(text="", id="h", fingerprint=SHARED))
    outcome = add(opened.curation, NewReference(text=TEXTS[0], id="t"), duplicate="skip")
    assert outcome.duplicates == ("t",)


def test_exported_and_imported_as_hash_only(tmp_path: Path) -> None:
    with engine_at(tmp_path / "src") as src, engine_at(tmp_path / "dst") as dst:
        add(src.curation, NewReference(text="", id="h", fingerprint=SHARED, bank="default", labels=("org:partner",)))
        page = src.curation.exchange.export(after=0)
        [line] = [json.dumps(reference_to_record(item)) for item in page.items]
        record = json.loads(line)
        assert record["text"] == "" and record["fingerprint"] == SHARED and record["state"] == "active"
        summary = dst.curation.exchange.import_items([reference_from_record(record, "line 1")], actor="importer:tcap")
        assert summary.added == 1
        imported = dst.store.references.get("h")
        assert (imported.text, imported.fingerprint, imported.labels) == ("", SHARED, ("org:partner",))
        assert matched_ids(dst.engine, VARIANT) == ["h"]
        # Importing it again changes nothing.
        assert dst.curation.exchange.import_items([reference_from_record(record, "line 1")], actor="importer:tcap").unchanged == 1
