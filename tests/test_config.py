from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.core.config import BUNDLED_MODEL, NigranConfig, load_thresholds
from service.core.errors import ConfigError


def test_defaults_are_a_working_local_config() -> None:
    config = NigranConfig()
    assert config.model.name == BUNDLED_MODEL
    assert config.server.host == "127.0.0.1" and config.server.port == 50051
    assert not config.server.auth.enabled
    assert config.store_path == Path("var/references.sqlite3")


def test_toml_overrides_nested_sections(tmp_path: Path) -> None:
    path = tmp_path / "nigran.toml"
    path.write_text(
        'data_dir = "/srv/nigran"\n[server]\nport = 6000\n[server.auth.tokens]\nabc = "curator:ann"\n'
        "[limits]\nmax_posts_per_request = 8\n",
        encoding="utf-8",
    )
    config = NigranConfig.load(path)
    assert config.data_dir == Path("/srv/nigran")
    assert config.server.port == 6000 and config.server.auth.tokens == {"abc": "curator:ann"}
    assert config.limits.max_posts_per_request == 8
    assert config.limits.max_text_bytes == NigranConfig().limits.max_text_bytes


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nigran.toml"
    path.write_text("[thresholds]\ntranslaton_margin = 1.0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="translaton_margin"):
        NigranConfig.load(path)


def test_thresholds_file_replaces_defaults(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"calibrated_on": "unit test", "thresholds": {"translation_margin": 1.2}}), encoding="utf-8")
    thresholds = load_thresholds(path)
    assert thresholds.translation_margin == 1.2 and "unit test" in thresholds.source
    config = NigranConfig.load(None, thresholds_file=path)
    assert config.thresholds.translation_margin == 1.2
