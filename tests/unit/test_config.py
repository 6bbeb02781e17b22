from __future__ import annotations

from pathlib import Path

import pytest

from service.core import BUNDLED_MODEL, DEFAULT_CALIBRATION_DIR, ConfigError, ModelConfig, NigranConfig


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


def test_thresholds_table_values_are_type_checked(tmp_path: Path) -> None:
    path = tmp_path / "nigran.toml"
    path.write_text('[thresholds]\nnear_duplicate_lexical = "high"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="near_duplicate_lexical"):
        NigranConfig.load(path)
    path.write_text("[thresholds]\nnear_duplicate_lexical = 0.6\n", encoding="utf-8")
    assert NigranConfig.load(path).thresholds == {"near_duplicate_lexical": 0.6}


@pytest.mark.parametrize("name", ["match_budget_seconds", "memory_trim_seconds"])
@pytest.mark.parametrize("value", ["-1", '"soon"', "true"])
def test_time_settings_must_be_seconds(tmp_path: Path, name: str, value: str) -> None:
    path = tmp_path / "nigran.toml"
    path.write_text(f"[server]\n{name} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=name):
        NigranConfig.load(path)


@pytest.mark.parametrize("value", ["0", "257", "2.5", "true"])
def test_match_stream_window_must_be_a_whole_number_in_range(tmp_path: Path, value: str) -> None:
    path = tmp_path / "nigran.toml"
    path.write_text(f"[server]\nmatch_stream_window = {value}\n")
    with pytest.raises(ConfigError, match="match_stream_window"):
        NigranConfig.load(path)


def test_backend_is_torch_unless_set_and_is_read_from_toml(tmp_path: Path) -> None:
    assert NigranConfig().model.backend == "torch"
    path = tmp_path / "nigran.toml"
    path.write_text('[model]\nbackend = "onnx-int8"\n', encoding="utf-8")
    assert NigranConfig.load(path).model.backend == "onnx-int8"


@pytest.mark.parametrize("value", ['"onnx"', '"int8"', '"TORCH"', "1"])
def test_unknown_backend_is_refused_naming_the_field_and_the_choices(tmp_path: Path, value: str) -> None:
    path = tmp_path / "nigran.toml"
    path.write_text(f"[model]\nbackend = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"model\.backend must be one of 'torch', 'onnx-int8'"):
        NigranConfig.load(path)


def test_onnx_int8_backend_needs_the_bundled_model() -> None:
    with pytest.raises(ConfigError, match="model.backend 'onnx-int8' runs the bundled model only"):
        ModelConfig(name="/models/my-own-st-dir", backend="onnx-int8")
    assert ModelConfig(name="/models/my-own-st-dir").backend == "torch"


@pytest.mark.parametrize(("name", "value"), [("max_seq_length", 0), ("max_seq_length", 513), ("max_seq_length", 2.5), ("batch_size", 0), ("batch_size", True)])
def test_encoder_sizes_must_be_whole_numbers_the_model_can_take(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"model.{name}"):
        ModelConfig(**{name: value})  # type: ignore[arg-type]


def test_each_backend_has_its_own_calibration_directory(tmp_path: Path) -> None:
    base = ModelConfig(adapter="none")
    torch = NigranConfig(calibration_dir=tmp_path, model=base)
    onnx = NigranConfig(calibration_dir=tmp_path, model=ModelConfig(backend="onnx-int8", adapter="none"))
    assert torch.model_calibration_dir == tmp_path
    assert onnx.model_calibration_dir == tmp_path / "onnx-int8"
    assert NigranConfig(calibration_dir=None, model=ModelConfig(backend="onnx-int8")).model_calibration_dir is None
    # The shipped directory holds both: torch's at the top, int8's beside it,
    # and an adapted model's the same way under adapter-NAME.
    assert NigranConfig(model=ModelConfig(backend="onnx-int8", adapter="none")).model_calibration_dir == DEFAULT_CALIBRATION_DIR / "onnx-int8"
    assert NigranConfig(model=ModelConfig(backend="onnx-int8", adapter="tico19")).model_calibration_dir == (
        DEFAULT_CALIBRATION_DIR / "adapter-tico19" / "onnx-int8"
    )
