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
from service.core import NigranConfig
from tests.support.doubles import HashingEmbedder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--grace", type=float, default=2.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = NigranConfig.load(None, data_dir=args.data_dir, calibration_dir=None)
    server = dataclasses.replace(config.server, port=args.port, grace_seconds=args.grace)
    serve(dataclasses.replace(config, server=server), embedder=HashingEmbedder())


if __name__ == "__main__":
    main()
