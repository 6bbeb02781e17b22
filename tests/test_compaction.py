"""Background index rebuild while matching goes on.

About index bookkeeping, not matching quality: uses the HashingEmbedder double.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from service.core.config import CompactionConfig
from service.core.domain import NewReference, Post, Verdict
from tests.doubles import HashingEmbedder
from tests.test_engine import open_engine


def text(n: int) -> str:
    return f"statement {n} about the convoy at the bridge number {n * 3}"


def test_drift_is_repaired_in_the_background_while_matches_continue(data_dir: Path) -> None:
    engine = open_engine(data_dir, HashingEmbedder(), compaction=CompactionConfig(after_removals=10))
    engine.add_references([NewReference(id=f"r{n}", text=text(n)) for n in range(40)])
    # Make the index drift from the store: one stray vector, one lost one.
    engine._index.add(np.array([9999], np.int64), np.ones((1, engine.embedder.dim), np.float32) / np.sqrt(engine.embedder.dim))
    engine._index.remove(np.array([engine.get_reference("r0").vid], np.int64))
    assert (engine.compactor.drift().missing, engine.compactor.drift().extra) == (1, 1)

    stop = threading.Event()
    answered: list[Verdict] = []

    def keep_matching() -> None:
        while not stop.is_set():
            answered.extend(r.verdict for r in engine.match([Post("p", text(5))]))

    matcher = threading.Thread(target=keep_matching)
    matcher.start()
    try:
        # Nine removals: not yet due; the tenth starts a rebuild in the background.
        engine.remove_references([f"r{n}" for n in range(30, 39)])
        assert engine.compactor.rebuilds == 0 and not engine.compactor.running
        engine.remove_references(["r39"])
        # A write landing while the rebuild runs must be in the swapped-in index.
        engine.add_references([NewReference(id="late", text=text(1000))])
        assert engine.compactor.wait(60)
    finally:
        stop.set()
        matcher.join(30)
    assert engine.compactor.rebuilds == 1
    assert engine.compactor.drift().total == 0
    assert answered and all(v is Verdict.REUPLOAD for v in answered)
    assert engine.match([Post("p", text(1000))])[0].matches[0].reference_id == "late"
    assert len(engine.index_ids()) == 31
