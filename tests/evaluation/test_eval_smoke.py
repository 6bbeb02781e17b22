"""`python -m evaluation eval` end to end on a tiny corpus written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.__main__ import main
from evaluation.corpus import load_corpus, part_of
from tests.support.factories import MODEL_CACHE

pytestmark = pytest.mark.slow

PLACES = [("Lahore", "لاہور", "لاهور"), ("Peshawar", "پشاور", "پېښور"), ("Quetta", "کوئٹہ", "کوټه"), ("Kabul", "کابل", "کابل")]
# Five words at most: with the place, no two lines share six words in a row, so none is taken
# for a copy of another (evaluation/testset.py, quotes) and every unused line is a distractor.
EVENTS = [
    ("the main market reopened", "مرکزی بازار دوبارہ کھل گیا", "لوی بازار بیا پرانیستل شو"),
    ("a flood warning was issued", "سیلاب کی وارننگ جاری کی گئی", "د سیلاب خبرتیا ورکړل شوه"),
    ("the girls school closed", "لڑکیوں کا اسکول بند ہو گیا", "د نجونو ښوونځی وتړل شو"),
    ("ten people were hurt", "دس افراد زخمی ہوئے", "لس کسان ټپيان شول"),
    ("the power was cut", "بجلی بند رہی", "برېښنا پرې وه"),
    ("doctors started a vaccine campaign", "ڈاکٹروں نے ویکسین کی مہم شروع کی", "ډاکټرانو د واکسین کمپاین پیل کړ"),
]


def _write_corpus(root: Path) -> Path:
    corpus = root / "tiny"
    corpus.mkdir(parents=True)
    rows = [
        (f"In {en_p}, {en_e}.", f"{ur_p} میں {ur_e}۔", f"په {ps_p} کې {ps_e}.", f"news.{i}")
        for i, (en_p, ur_p, ps_p) in enumerate(PLACES)
        for en_e, ur_e, ps_e in EVENTS
    ]
    for col, name in enumerate(("eng.txt", "urd.txt", "pus.txt", "DOCUMENT_IDS.tsv")):
        (corpus / name).write_text("".join(r[col] + "\n" for r in rows), encoding="utf-8")
    return corpus


def test_eval_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path / "data")
    parts = {part_of(t.segment) for t in load_corpus(corpus)}
    assert parts == {"calibration", "report", "background"}  # four documents reach every part
    out = tmp_path / "out"
    # No shipped calibration for this run: it calibrates on the tiny corpus itself.
    code = main(["eval", "--data-dir", str(tmp_path / "data"), "--out", str(out), "--full",
                 "--calibration-dir", str(tmp_path / "none"), "--model-cache", str(MODEL_CACHE), "--background-per-lang", "10"])
    assert code == 0
    report = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    methods = {r["method"] for r in report["rows"]}
    assert methods == {"nigran", "minhash", "raw_cosine"}
    # 3 REUPLOAD, 3 NEAR_DUPLICATE, 6 TRANSLATION and 3 PARAPHRASE rows.
    assert [t["row"].split()[0] for t in report["targets"]].count("PARAPHRASE") == 3
    assert len(report["targets"]) == 15
    paraphrase = [r for r in report["rows"] if r["row"].startswith("PARAPHRASE") and r["method"] == "nigran"]
    assert all(r["n_positives"] == 0 and r["recall"] is None for r in paraphrase)  # nothing to recall: null, not NaN
    assert (out / "pr_curves.png").stat().st_size > 10_000
    table = (out / "eval.md").read_text(encoding="utf-8")
    assert "| REUPLOAD ur→ur | **Nigran** |" in table
    # --full: the test set's own bank, then every distractor the tiny corpus has, nested and growing.
    sizes = [run["references"] for run in report["by_size"]]
    assert len(sizes) == 2 and sizes[0] < sizes[1] == report["bank_sizes"][-1]
    assert all(len(run["targets"]) == 15 for run in report["by_size"])
    assert "## By bank size" in table and (out / "by_bank_size.png").stat().st_size > 10_000
