"""``nigran``: a small command-line client for the service.

Examples::

    nigran add --lang ur --bank demo --label org:example "متن یہاں"
    nigran add --file refs.jsonl          # one {"text": ..., "lang": ..., ...} per line
    nigran match "some post text"
    nigran compare "a post" "a reference"    # every signal against its threshold; no bank is read
    nigran fingerprint "some text"           # computed here, no server: what a hash-only item shares
    nigran add --fingerprint 3f2a…           # a hash-only item: matches exact copies of the text only
    nigran get REFERENCE_ID
    nigran remove REFERENCE_ID
    nigran health                         # ready? (--service liveness: up?)
    nigran bank create allow --kind suppression --description "known false positives"
    nigran disable REFERENCE_ID --until 2025-01-31T00:00:00Z
    nigran export --after 0 > refs.jsonl     # the next cursor is printed on stderr
    nigran import refs.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import grpc
from google.protobuf import json_format

from service.api import convert
from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2_grpc
from service.api.status import field_violations
from service.cli_curation import CURATION_COMMANDS, add_curation_commands, run_curation
from service.core import (
    DEFAULT_BANK, SUPPORTED_LANGUAGES, MatchOptions, NewReference, NigranError, Post, Verdict, new_reference_from_record,
    prepare_text
)

DEFAULT_TARGET = "127.0.0.1:50051"


def _metadata(token: str | None) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")] if token else []


def _print(message: Any) -> None:
    print(json.dumps(json_format.MessageToDict(message, always_print_fields_with_no_presence=True), ensure_ascii=False, indent=2))


def _read_references(path: Path, default: NewReference) -> list[NewReference]:
    refs = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                refs.append(new_reference_from_record(json.loads(line), f"{path}:{line_no}", default))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{line_no}: not JSON: {exc}") from exc
            except NigranError as exc:
                raise SystemExit(str(exc)) from exc
    return refs


_KINDS = [v.value for v in Verdict if v is not Verdict.NO_MATCH]


def _min_score(spec: str) -> tuple[str, float]:
    kind, sep, score = spec.partition("=")
    if not sep or kind not in _KINDS:
        raise argparse.ArgumentTypeError(f"expected KIND=SCORE with KIND one of {', '.join(_KINDS)}, got {spec!r}")
    try:
        return kind, float(score)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{score!r} is not a number") from None


def _pair(spec: str) -> tuple[str, str]:
    key, sep, value = spec.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {spec!r}")
    return key, value


def open_channel(args: argparse.Namespace) -> grpc.Channel:
    """Plaintext, or TLS when a CA is given (with a client certificate for mTLS)."""
    if not args.ca_cert:
        return grpc.insecure_channel(args.target)
    client = (args.key.read_bytes(), args.cert.read_bytes()) if args.cert else (None, None)
    credentials = grpc.ssl_channel_credentials(root_certificates=args.ca_cert.read_bytes(), private_key=client[0], certificate_chain=client[1])
    return grpc.secure_channel(args.target, credentials)


def run(args: argparse.Namespace) -> int:
    if args.command == "fingerprint":
        # Local: the text never leaves this machine, which is the point of sharing a fingerprint.
        for text in args.text:
            print(prepare_text(text).fingerprint)
        return 0
    channel = open_channel(args)
    md = _metadata(args.token)
    try:
        if args.command == "health":
            from grpc_health.v1 import health_pb2, health_pb2_grpc

            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=args.service), metadata=md, timeout=args.timeout)
            _print(reply)
            # A container health check reads the exit code: loading is not yet healthy.
            return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1
        elif args.command == "add":
            default = NewReference(text="", lang=args.lang, bank=args.bank, labels=tuple(args.label))
            refs = _read_references(args.file, default) if args.file else []
            refs += [dataclasses.replace(default, text=t) for t in args.text]
            refs += [dataclasses.replace(default, fingerprint=f) for f in args.fingerprint]
            if args.id:
                if len(refs) != 1:
                    raise SystemExit("--id needs exactly one text or fingerprint")
                refs = [dataclasses.replace(refs[0], id=args.id)]
            if not refs:
                raise SystemExit("nothing to add: give texts, --fingerprint or --file")
            stub = curation_pb2_grpc.CurationStub(channel)
            _print(stub.AddReferences(convert.add_request_to_pb(refs), metadata=md, timeout=args.timeout))
        elif args.command == "match":
            posts = [Post(id=str(i), text=t) for i, t in enumerate(args.text)]
            if args.stdin:
                posts += [Post(id=str(len(posts) + i), text=line.rstrip("\n")) for i, line in enumerate(sys.stdin) if line.strip()]
            stub_m = matcher_pb2_grpc.MatcherStub(channel)
            options = MatchOptions(
                verdicts=frozenset(Verdict(v) for v in args.verdict),
                min_scores={Verdict(kind): score for kind, score in args.min_score},
                metadata=dict(args.where),
            )
            request_m = convert.match_request_to_pb(
                posts, banks=tuple(args.bank), top_k=args.top_k, exhaustive=args.exhaustive, options=options
            )
            _print(stub_m.Match(request_m, metadata=md, timeout=args.timeout))
        elif args.command == "compare":
            stub_m = matcher_pb2_grpc.MatcherStub(channel)
            _print(stub_m.Compare(convert.compare_request_to_pb(args.text_a, args.text_b), metadata=md, timeout=args.timeout))
        elif args.command == "get":
            stub = curation_pb2_grpc.CurationStub(channel)
            _print(stub.GetReference(curation_pb2.GetReferenceRequest(id=args.id), metadata=md, timeout=args.timeout))
        elif args.command == "remove":
            stub = curation_pb2_grpc.CurationStub(channel)
            _print(stub.RemoveReferences(curation_pb2.RemoveReferencesRequest(ids=args.ids), metadata=md, timeout=args.timeout))
        elif args.command in CURATION_COMMANDS:
            run_curation(args, curation_pb2_grpc.CurationStub(channel), md, _print)
    except grpc.RpcError as err:
        violations = field_violations(err)
        detail = "".join(f"\n  {f}: {d}" for f, d in violations)
        print(f"error: {err.code().name}: {err.details()}{detail}", file=sys.stderr)
        return 1
    finally:
        channel.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nigran", description="Talk to a Nigran server.")
    parser.add_argument("--target", default=os.environ.get("NIGRAN_TARGET", DEFAULT_TARGET), help=f"host:port (default {DEFAULT_TARGET}, or $NIGRAN_TARGET)")
    parser.add_argument("--token", default=os.environ.get("NIGRAN_TOKEN"), help="bearer token (or $NIGRAN_TOKEN)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per call")
    parser.add_argument("--ca-cert", type=Path, help="TLS: the CA that signed the server's certificate (default: plaintext)")
    parser.add_argument("--cert", type=Path, help="mTLS: this client's certificate (with --key)")
    parser.add_argument("--key", type=Path, help="mTLS: this client's private key")
    sub = parser.add_subparsers(dest="command", required=True)
    health = sub.add_parser("health", help="standard gRPC health check (exit 0 only when SERVING)")
    health.add_argument(
        "--service", default="", help='"" (default): ready to serve (loaded, caught up with the store); "liveness": the process is up'
    )
    add = sub.add_parser("add", help="add reference items")
    add.add_argument("text", nargs="*", help="texts to add")
    add.add_argument("--file", type=Path, help="JSONL file: text (or fingerprint), and optionally id, lang, bank, labels, metadata")
    add.add_argument(
        "--fingerprint", action="append", default=[], help="add a hash-only item: a fingerprint (64 hex digits) instead of a text (repeatable)"
    )
    add.add_argument("--id", default="", help="id for a single text")
    add.add_argument(
        "--lang", default="",
        help=f"{', '.join(SUPPORTED_LANGUAGES)}, or a BCP 47 tag or ISO 639-3 code of one (ur-PK, pus); default: detected",
    )
    add.add_argument("--bank", default=DEFAULT_BANK)
    add.add_argument("--label", action="append", default=[], help="repeatable, e.g. org:example")
    match = sub.add_parser("match", help="match posts")
    match.add_argument("text", nargs="*")
    match.add_argument("--stdin", action="store_true", help="also read one post per line from stdin")
    match.add_argument("--bank", action="append", default=[], help="restrict to banks (repeatable)")
    match.add_argument("--top-k", type=int, default=0)
    match.add_argument(
        "--exhaustive", action="store_true",
        help="embed exact re-uploads too, listing every match (default: their exact copies, without the model)",
    )
    match.add_argument("--verdict", action="append", default=[], choices=_KINDS, help="return only matches of these kinds (repeatable)")
    match.add_argument(
        "--min-score", action="append", default=[], type=_min_score, metavar="KIND=SCORE",
        help="a stricter minimum score for matches of one kind (repeatable), e.g. translation=0.995",
    )
    match.add_argument(
        "--where", action="append", default=[], type=_pair, metavar="KEY=VALUE",
        help="only references whose metadata has this pair (repeatable: all must hold)",
    )
    fingerprint = sub.add_parser("fingerprint", help="print the exact-match fingerprint of each text (computed here, not sent)")
    fingerprint.add_argument("text", nargs="+")
    compare = sub.add_parser("compare", help="judge text A as a post against text B as a reference, with every signal")
    compare.add_argument("text_a")
    compare.add_argument("text_b")
    get = sub.add_parser("get", help="show a reference item")
    get.add_argument("id")
    remove = sub.add_parser("remove", help="remove reference items (keeps a tombstone)")
    remove.add_argument("ids", nargs="+")
    add_curation_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
