"""LoRA adapters: what training writes (evaluation/adapt.py) is what provisioning merges.

A tiny two-layer stand-in for the encoder, so no model is loaded: the merged
weights must give the same outputs as the trained, wrapped layers did.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from evaluation.adapt import inject_lora, lora_state
from service.core import ConfigError, ModelConfig, ModelProvisionError
from service.core.config import ADAPTERS_DIR, BUNDLED_ADAPTER, calibration_dir_for
from service.core.embedding.bundled.adapter import adapter_digest, merge_adapter


class _Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attention = torch.nn.Module()
        self.attention.self = torch.nn.Module()
        self.attention.self.query = torch.nn.Linear(6, 6)
        self.intermediate = torch.nn.Module()
        self.intermediate.dense = torch.nn.Linear(6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.intermediate.dense(self.attention.self.query(x))


class _Encoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = torch.nn.Module()
        self.encoder.layer = torch.nn.ModuleList([_Block(), _Block()])


def _write_adapter(tmp_path: Path, encoder: _Encoder, scale: float) -> dict[str, np.ndarray]:
    """Wraps, 'trains' (random B) and writes an adapter; returns the base weights as a state dict."""
    base = {k: v.detach().numpy().copy() for k, v in encoder.state_dict().items()}
    modules = inject_lora(encoder, rank=2, alpha=2 * scale, dropout=0.0, targets=("attention.self.query", "intermediate.dense"))
    with torch.no_grad():
        for m in modules.values():
            m.lora_b.normal_()
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in lora_state(modules).items()}, str(tmp_path / "adapter.safetensors"))
    (tmp_path / "adapter.json").write_text(json.dumps({"kind": "lora", "scale": scale}), encoding="utf-8")
    return base


def test_merged_weights_reproduce_the_wrapped_layers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    encoder = _Encoder()
    base = _write_adapter(tmp_path, encoder, scale=1.5)
    x = torch.randn(4, 6)
    encoder.eval()
    with torch.no_grad():
        # The stored halves are float16: round them as the file does before comparing.
        for block in encoder.encoder.layer:
            for m in (block.attention.self.query, block.intermediate.dense):
                m.lora_a.copy_(m.lora_a.half().float())
                m.lora_b.copy_(m.lora_b.half().float())
        wrapped = [block(x) for block in encoder.encoder.layer]

    merged = merge_adapter(base, tmp_path)
    plain = _Encoder()
    plain.load_state_dict({k: torch.from_numpy(v) for k, v in merged.items()})
    with torch.no_grad():
        for block, expected in zip(plain.encoder.layer, wrapped):
            assert torch.allclose(block(x), expected, atol=1e-5)
    # Only adapted weights change; the base dict is left as it was.
    assert np.array_equal(merged["encoder.layer.0.attention.self.query.bias"], base["encoder.layer.0.attention.self.query.bias"])
    assert not np.allclose(merged["encoder.layer.1.intermediate.dense.weight"], base["encoder.layer.1.intermediate.dense.weight"])


def test_an_adapter_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    base = _write_adapter(tmp_path, _Encoder(), scale=1.0)
    base["encoder.layer.0.attention.self.query.weight"] = np.zeros((3, 3), dtype=np.float32)
    with pytest.raises(ModelProvisionError, match="does not fit"):
        merge_adapter(base, tmp_path)
    (tmp_path / "adapter.json").unlink()
    with pytest.raises(ModelProvisionError, match="incomplete"):
        adapter_digest(tmp_path)


def test_the_digest_names_both_files(tmp_path: Path) -> None:
    torch.manual_seed(0)
    _write_adapter(tmp_path, _Encoder(), scale=1.0)
    before = adapter_digest(tmp_path)
    (tmp_path / "adapter.json").write_text(json.dumps({"kind": "lora", "scale": 2.0}), encoding="utf-8")
    assert adapter_digest(tmp_path) != before


def test_config_names_an_adapter_by_name_or_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a shipped adapter"):
        ModelConfig(adapter="no-such-adapter")
    (tmp_path / "adapter.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="bundled model only"):
        ModelConfig(name="/some/model", adapter=str(tmp_path))
    assert ModelConfig(adapter=str(tmp_path)).adapter_dir == tmp_path
    with pytest.raises(ConfigError, match="model.adapter must be"):
        ModelConfig(adapter="")


def test_default_is_the_shipped_adapter_for_the_bundled_model_only() -> None:
    assert ModelConfig().adapter_name == BUNDLED_ADAPTER
    assert ModelConfig().adapter_dir == (None if BUNDLED_ADAPTER is None else ADAPTERS_DIR / BUNDLED_ADAPTER)
    # Another model gets no adapter unless one is named, and naming one is refused.
    assert ModelConfig(name="/some/model").adapter_name is None
    assert ModelConfig(adapter="none").adapter_dir is None
    if BUNDLED_ADAPTER is not None:
        assert (ADAPTERS_DIR / BUNDLED_ADAPTER / "adapter.safetensors").is_file()


def test_an_adapted_model_has_calibrations_of_its_own(tmp_path: Path) -> None:
    root = Path("/cal")
    assert calibration_dir_for(root, "torch") == root
    assert calibration_dir_for(root, "onnx-int8") == root / "onnx-int8"
    assert calibration_dir_for(root, "torch", "tico19") == root / "adapter-tico19"
    assert calibration_dir_for(root, "onnx-int8", str(tmp_path / "mine")) == root / "adapter-mine" / "onnx-int8"
