"""Background index rebuild while matching goes on.

About index bookkeeping, not matching quality: uses the HashingEmbedder double.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from service.core import CompactionConfig, Engine, NewReference, Post, Verdict
from tests.support.doubles import HashingEmbedder
from tests.support.factories import make_config


def text(n: int) -> str:
    return f"statement {n} about the convoy at the bridge number {n * 3}"


def open_engine(data_dir: Path, **overrides: object) -> Engine:
    return Engine.open(make_config(data_dir, **overrides), embedder=HashingEmbedder())


def test_drift_is_repaired_in_the_background_while_matches_continue(data_dir: Path) -> None:
    engine = open_engine(data_dir, compaction=CompactionConfig(after_removals=10))
    references = engine.curation.references
    references.add([NewReference(id=f"r{n}", text=text(n)) for n in range(40)], actor="test")
    # Make the index drift from the store: one stray vector, one lost one (reaching past the
    # live index's bookkeeping on purpose, as a crash between store and index would).
    dim = engine.index.dim
    engine.index._index.add(np.array([9999], np.int64), np.ones((1, dim), np.float32) / np.sqrt(dim))
    engine.index._index.remove(np.array([references.get("r0").vid], np.int64))
    assert (engine.index.drift().missing, engine.index.drift().extra) == (1, 1)

    stop = threading.Event()
    answered: list[Verdict] = []

    def keep_matching() -> None:
        while not stop.is_set():
            answered.extend(r.verdict for r in engine.match([Post("p", text(5))]))

    matcher = threading.Thread(target=keep_matching)
    matcher.start()
    try:
        # Nine removals: not yet due; the tenth starts a rebuild in the background.
        references.remove([f"r{n}" for n in range(30, 39)], actor="test")
        assert engine.index.compactions == 0 and not engine.index.compacting
        references.remove(["r39"], actor="test")
        # A write landing while the rebuild runs must be in the swapped-in index.
        references.add([NewReference(id="late", text=text(1000))], actor="test")
        assert engine.index.wait_compaction(60)
    finally:
        stop.set()
        matcher.join(30)
    assert engine.index.compactions == 1
    assert engine.index.drift().total == 0
    assert answered and all(v is Verdict.REUPLOAD for v in answered)
    assert engine.match([Post("p", text(1000))])[0].matches[0].reference_id == "late"
    assert len(engine.index.ids()) == 31
    engine.close()
