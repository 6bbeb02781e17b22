"""TEST DOUBLE ONLY: ``nigran-server`` with the hashing embedder instead of the model.

For tests about the server process itself (signals, shutdown, snapshots),
where loading the real model at every one of many starts would only add
minutes. Run as ``python -m tests.support.serve_double --data-dir D [--port 0]``;
it logs ``listening on HOST:PORT`` like the real server.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from service.api.server import serve
from service.core import NigranConfig, StoreConfig
from tests.support.doubles import HashingEmbedder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--grace", type=float, default=2.0)
    # A replica: the shared Postgres store, and how it follows the change log.
    parser.add_argument("--store-url", default="")
    parser.add_argument("--shared-index-dir", type=Path)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--max-lag", type=float, default=5.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = NigranConfig.load(None, data_dir=args.data_dir, calibration_dir=None)
    server = dataclasses.replace(config.server, port=args.port, grace_seconds=args.grace)
    store = StoreConfig(
        url=args.store_url, shared_index_dir=args.shared_index_dir, poll_seconds=args.poll, max_lag_seconds=args.max_lag,
        connect_timeout_seconds=2.0,
    )
    serve(dataclasses.replace(config, server=server, store=store), embedder=HashingEmbedder())


if __name__ == "__main__":
    main()
