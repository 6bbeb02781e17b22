"""The analyst commands of ``nigran`` against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import build_parser, run
from service.core import Embedder
from tests.support.grpc_harness import start_client

pytestmark = pytest.mark.slow

UR = "ہمارے بھائی جمعہ کی رات قافلہ گزرنے پر شمالی دروازے کی چوکی پر حملہ کریں گے۔"


def test_cli_curation_commands(data_dir: Path, real_embedder: Embedder, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = start_client(data_dir, real_embedder)
    target = f"127.0.0.1:{client.running.nigran.port}"

    def nigran(*argv: str) -> str:
        capsys.readouterr()
        assert run(build_parser().parse_args(["--target", target, *argv])) == 0
        return capsys.readouterr().out

    try:
        assert json.loads(nigran("bank", "create", "threats", "--threshold", "translation_cosine=0.9"))["thresholds"] == {"translation_cosine": 0.9}
        nigran("bank", "create", "allow", "--kind", "suppression")
        banks = json.loads(nigran("bank", "list"))["banks"]
        assert [(b["name"], b["kind"]) for b in banks] == [("allow", "SUPPRESSION"), ("default", "NORMAL"), ("threats", "NORMAL")]
        nigran("add", "--id", "ur-1", "--lang", "ur", "--bank", "threats", "--label", "org:example", UR)
        assert json.loads(nigran("label", "ur-1", "--add", "type:threat", "--meta", "case=7"))["metadata"] == {"case": "7"}
        assert json.loads(nigran("disable", "ur-1", "--until", "+3600"))["changed"] == ["ur-1"]
        assert json.loads(nigran("match", UR))["results"][0]["verdict"] == "NO_MATCH"
        assert json.loads(nigran("list", "--state", "disabled"))["references"][0]["id"] == "ur-1"
        nigran("enable", "ur-1")
        assert json.loads(nigran("match", UR))["results"][0]["verdict"] == "REUPLOAD"
        assert json.loads(nigran("report", "ur-1", "post-9", "true"))["feedback"]["precision"] == 1.0
        assert json.loads(nigran("stats", "ur-1"))["feedback"]["truePositives"] == 1
        actions = [e["action"] for e in json.loads(nigran("audit", "--target", "ur-1"))["entries"]]
        assert actions == ["feedback", "enable", "disable", "update", "add"]
        nigran("remove", "ur-1")
        capsys.readouterr()
        assert run(build_parser().parse_args(["--target", target, "export", "--after", "0"])) == 0
        out, err = capsys.readouterr()
        records = [json.loads(line) for line in out.splitlines()]
        assert [(r["id"], r["state"]) for r in records] == [("ur-1", "removed")] and "next cursor:" in err
        dump = tmp_path / "refs.jsonl"
        dump.write_text(out, encoding="utf-8")
        assert json.loads(nigran("import", str(dump)))["unchanged"] == 1
        assert json.loads(nigran("bank", "delete", "threats"))["removed"] == 0
    finally:
        client.close()
