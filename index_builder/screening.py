"""What local and Ray screening share: the options, the engine, and one batch of posts through it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from index_builder.sources import Columns, Record, Reject, Row
from service.core import Embedder, Engine, InvalidInput, NigranConfig, Post, check_posts, result_to_record

OutputFormat = Literal["jsonl", "parquet"]
EngineKind = Literal["local", "ray"]


@dataclass(frozen=True)
class ScreenOptions:
    input: Path
    output: Path
    fmt: str | None = None
    out_format: OutputFormat | None = None
    columns: Columns = Columns()
    rejects: Path | None = None
    batch_size: int = 64
    top_k: int = 0
    banks: tuple[str, ...] = ()
    # As MatchRequest.exhaustive: embed exact re-uploads too, for every match.
    exhaustive: bool = False
    index: Path | None = None  # an index artifact; None: the store's own index
    work_dir: Path | None = None
    restart: bool = False
    progress: bool = True
    engine: EngineKind = "local"
    ray_address: str | None = None
    workers: int = 0  # Ray actors; 0: one per `threads` CPUs of the cluster


def screen_batch(
    engine: Engine, rows: list[Row], *, top_k: int = 0, banks: tuple[str, ...] = (), exhaustive: bool = False
) -> dict[str, Any]:
    """Match one batch; rows the service would refuse become rejects, with the service's reason."""
    rejects = [r.to_json() for r in rows if isinstance(r, Reject)]
    posts: list[Post] = []
    for rec in rows:
        if not isinstance(rec, Record):
            continue
        post = Post(id=rec.id, text=rec.text)
        try:
            check_posts([post], engine.config.limits)
        except InvalidInput as exc:
            rejects.append(Reject(rec.seq, rec.line, rec.id, exc.message).to_json())
            continue
        posts.append(post)
    results: list[dict[str, Any]] = []
    step = engine.config.limits.max_posts_per_request
    for start in range(0, len(posts), step):
        results += [result_to_record(r) for r in engine.match(posts[start : start + step], top_k=top_k, banks=banks, exhaustive=exhaustive)]
    rejects.sort(key=lambda r: r["row"])
    return {"results": results, "rejects": rejects, "rows": len(rows)}


def open_engine(config: NigranConfig, index: Path | None, embedder: Embedder | None = None) -> Engine:
    engine = Engine.open(config, embedder=embedder)
    if index is not None:
        engine.load_index(index)
    return engine
