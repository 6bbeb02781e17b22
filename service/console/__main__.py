"""``python -m service.console``: serve the analyst console.

    python -m service.console --target 127.0.0.1:50051 --port 8080

Open http://127.0.0.1:8080 and sign in with a Nigran token (a curator token
for every page, a matcher token for "Try a post"). Serve it behind HTTPS in
production and pass ``--secure-cookies``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import grpc
import uvicorn

from service.console.app import ConsoleConfig, create_app

DEFAULT_TARGET = "127.0.0.1:50051"


def main() -> None:
    parser = argparse.ArgumentParser(prog="nigran-console", description="The analyst console for a Nigran server.")
    parser.add_argument("--target", default=os.environ.get("NIGRAN_TARGET", DEFAULT_TARGET), help="the Nigran server, host:port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--ca-cert", type=Path, help="TLS to the server: the CA that signed its certificate")
    parser.add_argument("--secure-cookies", action="store_true", help="mark the session cookie Secure (serve the console over HTTPS)")
    args = parser.parse_args()
    if args.ca_cert:
        channel = grpc.secure_channel(args.target, grpc.ssl_channel_credentials(root_certificates=args.ca_cert.read_bytes()))
    else:
        channel = grpc.insecure_channel(args.target)
    app = create_app(channel, ConsoleConfig(secure_cookies=args.secure_cookies))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
