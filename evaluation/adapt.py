"""``make adapt``: a small LoRA adapter for the bundled model, trained on TICO-19 only.

Pashto is where multilingual-e5-small is weakest (README, Evaluation), so
issue 9 asks whether a little aligned data helps. The adapter is trained
offline, on CPU, with a contrastive loss over aligned sentences; its weights
(about 1.3 MB) are committed under ``service/adapters/`` and merged
into the model when it is provisioned (``embedding/bundled/adapter.py``).

Honest data use:

* only TICO-19 (CC0) trains it; NTREX-128 (CC BY-SA) never does, and so is
  an out-of-domain check (news against TICO's health text);
* only the *adapt fold* of TICO-19's calibration segments (``adapt_fold``,
  about half of them) trains it; the report part never does;
* the calibration of an adapted model leaves the adapt fold out
  (``calibration_triples``), so its thresholds are picked on sentences the
  adapter has never seen, and ``adapt-report`` (``retrieval_rows``) compares
  base and adapted on the calibration sentences outside the fold.

Batches are whole segments (consecutive lines of one document), so the
in-batch negatives are same-topic sentences: the hard negatives that make
translations of related news look alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from evaluation.corpus import LANGS, Triple
from service.core import Embedder, prepare_text

log = logging.getLogger("evaluation.adapt")

ADAPT_CORPUS = "tico19"
# Share of TICO-19's calibration segments the adapter trains on.
ADAPT_SHARE = 0.5
# The shipped adapter's name (service/adapters/tico19/).
DEFAULT_ADAPTER = "tico19"


def adapt_fold(triple: Triple) -> bool:
    """Whether a calibration triple is in the adapter's training fold (seed-free, like part_of)."""
    if triple.corpus != ADAPT_CORPUS:
        return False
    h = int.from_bytes(hashlib.sha256(f"adapt:{triple.segment}".encode("utf-8")).digest()[:8], "big") / 2**64
    return h < ADAPT_SHARE


def calibration_triples(triples: Sequence[Triple], adapted: bool) -> list[Triple]:
    """The calibration split an encoder may be calibrated on: an adapted one never sees its own training lines."""
    return [t for t in triples if not (adapted and adapt_fold(t))]


@dataclass(frozen=True)
class AdaptSettings:
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    epochs: int = 3
    temperature: float = 0.05
    max_seq_length: int = 128
    seed: int = 20261204
    # Which linear layers of each XLM-R block get a low-rank update.
    targets: tuple[str, ...] = (
        "attention.self.query", "attention.self.key", "attention.self.value",
        "attention.output.dense", "intermediate.dense", "output.dense",
    )


def _lora_linear_class() -> Any:
    import torch

    class LoRALinear(torch.nn.Module):
        """A frozen linear layer plus a trainable low-rank update, ``B`` starting at zero."""

        def __init__(self, base: torch.nn.Linear, rank: int, alpha: float, dropout: float) -> None:
            super().__init__()
            self.base = base
            self.scale = alpha / rank
            self.lora_a = torch.nn.Parameter(torch.empty(rank, base.in_features))
            torch.nn.init.kaiming_uniform_(self.lora_a, a=5**0.5)
            self.lora_b = torch.nn.Parameter(torch.zeros(base.out_features, rank))
            self.dropout = torch.nn.Dropout(dropout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + (self.dropout(x) @ self.lora_a.T @ self.lora_b.T) * self.scale  # type: ignore[no-any-return]

    return LoRALinear


def inject_lora(encoder: Any, rank: int, alpha: float, dropout: float, targets: tuple[str, ...]) -> dict[str, Any]:
    """Wraps each target linear of every ``encoder.layer.N`` block; returns them by their weight's name."""
    lora_linear = _lora_linear_class()
    wrapped: dict[str, Any] = {}
    for i, block in enumerate(encoder.encoder.layer):
        for target in targets:
            parent_path, _, attr = target.rpartition(".")
            parent = block.get_submodule(parent_path)
            module = lora_linear(getattr(parent, attr), rank, alpha, dropout)
            setattr(parent, attr, module)
            wrapped[f"encoder.layer.{i}.{target}.weight"] = module
    return wrapped


def lora_state(modules: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, module in modules.items():
        # The names merge_adapter (service/core/embedding/bundled/adapter.py) reads.
        out[f"{name}.lora_a"] = module.lora_a
        out[f"{name}.lora_b"] = module.lora_b
    return out


def _batches(triples: Sequence[Triple], rng: random.Random) -> list[list[Triple]]:
    by_segment: dict[str, list[Triple]] = {}
    for t in triples:
        by_segment.setdefault(t.segment, []).append(t)
    batches = [group for group in by_segment.values() if len(group) >= 2]
    rng.shuffle(batches)
    return batches


def train_adapter(model_dir: Path, triples: Sequence[Triple], settings: AdaptSettings, out: Path) -> dict[str, Any]:
    """Trains the adapter on ``triples`` and writes ``adapter.safetensors`` and ``adapter.json`` to ``out``."""
    import torch
    from safetensors.torch import save_file
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.max_seq_length = settings.max_seq_length
    encoder: Any = model[0].auto_model
    for p in encoder.parameters():
        p.requires_grad_(False)
    modules = inject_lora(encoder, settings.rank, settings.alpha, settings.dropout, settings.targets)
    params = [p for m in modules.values() for p in (m.lora_a, m.lora_b)]
    optimiser = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    steps_per_epoch = len(_batches(triples, random.Random(0)))
    total = steps_per_epoch * settings.epochs
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))
    )
    pairs = [(a, b) for i, a in enumerate(LANGS) for b in LANGS[i + 1:]]
    model.train()
    started = time.perf_counter()
    losses: list[float] = []
    step = 0
    for epoch in range(settings.epochs):
        for batch in _batches(triples, rng):
            texts = [f"query: {t.texts[lang]}" for lang in LANGS for t in batch]
            features = model.preprocess(texts) if hasattr(model, "preprocess") else model.tokenize(texts)
            emb = model(features)["sentence_embedding"]
            emb = torch.nn.functional.normalize(emb, dim=-1)
            by_lang = dict(zip(LANGS, emb.split(len(batch))))  # type: ignore[no-untyped-call]
            labels = torch.arange(len(batch))
            loss = torch.zeros(())
            for a, b in pairs:
                logits = by_lang[a] @ by_lang[b].T / settings.temperature
                loss = loss + torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)
            loss = loss / (2 * len(pairs))
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
            step += 1
            if step % 5 == 0 or step == total:
                log.warning(
                    "adapt: epoch %d, step %d/%d, loss %.4f (mean of last 5), %.0f s",
                    epoch + 1, step, total, float(np.mean(losses[-5:])), time.perf_counter() - started,
                )
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in lora_state(modules).items()}
    save_file(state, str(out / "adapter.safetensors"))
    meta = {
        "kind": "lora",
        "settings": {**asdict(settings), "targets": list(settings.targets)},
        "scale": settings.alpha / settings.rank,
        "training": {
            "corpus": ADAPT_CORPUS,
            "part": "calibration",
            "fold": f"adapt_fold (share {ADAPT_SHARE})",
            "lines": len(triples),
            "steps": step,
            "loss_first_epoch": float(np.mean(losses[:steps_per_epoch])) if losses else None,
            "loss_last_epoch": float(np.mean(losses[-steps_per_epoch:])) if losses else None,
            "seconds": round(time.perf_counter() - started, 1),
        },
    }
    (out / "adapter.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return meta


def embed_triples(embedder: Embedder, triples: Sequence[Triple]) -> dict[str, np.ndarray]:
    """Each language's sentences of ``triples`` as the service embeds a post: cleaned by
    ``prepare_text``, through the service's Embedder (its prefix and max_seq_length)."""
    return {lang: np.asarray(embedder.embed([prepare_text(t.texts[lang]).cleaned for t in triples]), dtype=np.float32) for lang in LANGS}


CSLS_K = 8
TARGET_FP = 0.01


def _recall_at_fp(scores: np.ndarray, target_fp: float) -> tuple[float, float]:
    """(right reference first, recall at ``target_fp`` FP per post): line i's translation is column i.

    A post's negative score is its best score against every other line, as if
    its own translation were not in the bank; the threshold lets ``target_fp``
    of posts through on that score.
    """
    n = scores.shape[0]
    first = scores.argmax(axis=1) == np.arange(n)
    true = np.diag(scores)
    off = scores.copy()
    np.fill_diagonal(off, -np.inf)
    threshold = float(np.quantile(off.max(axis=1), 1 - target_fp))
    return float(first.mean()), float((first & (true >= threshold)).mean())


def csls(scores: np.ndarray, k: int = CSLS_K) -> np.ndarray:
    """Cross-domain similarity local scaling: 2cos - each side's mean cosine to its k nearest of the other side."""
    rp = np.sort(scores, axis=1)[:, -k:].mean(axis=1)
    rr = np.sort(scores, axis=0)[-k:, :].mean(axis=0)
    return np.asarray(2 * scores - rp[:, None] - rr[None, :])


def retrieval_rows(emb: dict[str, np.ndarray], subsets: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per direction, scorer and subset of posts: right reference first and recall at 1% FP per post."""
    rows: list[dict[str, Any]] = []
    for x in LANGS:
        for y in LANGS:
            if x == y:
                continue
            raw = emb[x] @ emb[y].T
            for scorer, scores in (("cosine", raw), (f"csls k={CSLS_K}", csls(raw))):
                for subset, mask in subsets.items():
                    # Posts and bank are the subset's lines; CSLS's neighbourhoods were taken over all of them.
                    sub = scores[mask][:, mask] if subset != "all" else scores
                    first, recall = _recall_at_fp(sub, TARGET_FP)
                    rows.append({"direction": f"{x}>{y}", "scorer": scorer, "subset": subset, "first": first, "recall_at_1pct": recall})
    return rows


def markdown_adapt(rows: dict[str, list[dict[str, Any]]], sizes: dict[str, int]) -> str:
    """One line per direction and scorer: each model's right-first / recall at 1% FP per post, per subset."""
    models = list(rows)
    subsets = list(sizes)
    head = "| direction | scorer | " + " | ".join(f"{m}, {s} ({sizes[s]} lines)" for m in models for s in subsets) + " |"
    lines = [head, "|" + "---|" * (2 + len(models) * len(subsets))]
    index = {(m, r["direction"], r["scorer"], r["subset"]): r for m in models for r in rows[m]}
    keys = list(dict.fromkeys((r["direction"], r["scorer"]) for r in rows[models[0]]))
    for direction, scorer in keys:
        cells = []
        for m in models:
            for s in subsets:
                r = index[(m, direction, scorer, s)]
                cells.append(f"{r['first']:.3f} / {r['recall_at_1pct']:.3f}")
        lines.append(f"| {direction} | {scorer} | " + " | ".join(cells) + " |")
    return (
        "Cells: right reference first / recall at 1% FP per post (threshold per direction; "
        "the bank is the column's held-out lines in the reference language).\n\n" + "\n".join(lines) + "\n"
    )
