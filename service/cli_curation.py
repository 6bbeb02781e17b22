"""The analyst commands of the ``nigran`` client: banks, item actions, feedback, audit, exchange."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from service.api import convert
from service.api._generated.nigran.v1 import curation_pb2
from service.core import (
    AuditQuery, Bank, BankChanges, BankKind, Feedback, FeedbackVerdict, MatchLogQuery, NigranError, ReferenceQuery,
    ReferenceState, Verdict, reference_from_record, reference_to_record
)

CURATION_COMMANDS = frozenset(
    {"bank", "disable", "enable", "release", "label", "report", "stats", "list", "audit", "queue", "export", "import"}
)
_KINDS = [kind.value for kind in BankKind]
_SHARE_HELP = "gradual roll-out: the share of posts, 0 to 1, the bank's items may match, e.g. 0.05"
_STATES = [state.value for state in ReferenceState]


def parse_time(value: str) -> float:
    """ISO 8601 (2025-01-31T00:00:00Z), or +SECONDS from now."""
    if value.startswith("+"):
        return time.time() + float(value[1:])
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: use ISO 8601 (2025-01-31T00:00:00Z) or +SECONDS") from exc


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep:
            raise SystemExit(f"{what} {value!r}: use key=value")
        out[key] = val
    return out


def _thresholds(values: list[str]) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in _pairs(values, "--threshold").items()}
    except ValueError as exc:
        raise SystemExit(f"--threshold: {exc}") from exc


def _read_jsonl(path: Path) -> Iterator[curation_pb2.Reference]:
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield convert.reference_to_pb(reference_from_record(json.loads(line), f"{path}:{line_no}"))
                except json.JSONDecodeError as exc:
                    raise SystemExit(f"{path}:{line_no}: not JSON: {exc}") from exc
                except NigranError as exc:
                    raise SystemExit(str(exc)) from exc


def run_curation(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]], show: Callable[[Any], None]) -> None:
    call = {"metadata": md, "timeout": args.timeout}
    cmd = args.command
    if cmd == "bank":
        if args.bank_command == "create":
            bank = Bank(
                name=args.name, description=args.description, enabled=not args.disabled, kind=BankKind(args.kind),
                thresholds=_thresholds(args.threshold), match_share=args.share,
            )
            show(stub.CreateBank(convert.create_bank_to_pb(bank), **call))
        elif args.bank_command == "list":
            show(stub.ListBanks(curation_pb2.ListBanksRequest(), **call))
        elif args.bank_command == "stats":
            show(stub.GetBankStats(curation_pb2.GetBankStatsRequest(name=args.name, days=args.days), **call))
        elif args.bank_command == "update":
            changes = BankChanges(
                description=args.description, enabled=args.enabled, kind=BankKind(args.kind) if args.kind else None,
                set_thresholds=_thresholds(args.threshold), clear_thresholds=tuple(args.clear_threshold), match_share=args.share,
            )
            show(stub.UpdateBank(convert.bank_changes_to_pb(args.name, changes), **call))
        else:
            show(stub.DeleteBank(curation_pb2.DeleteBankRequest(name=args.name, force=args.force), **call))
    elif cmd == "disable":
        show(stub.DisableReferences(convert.disable_to_pb(args.ids, args.until), **call))
    elif cmd == "enable":
        show(stub.EnableReferences(curation_pb2.ReferenceIds(ids=args.ids), **call))
    elif cmd == "release":
        show(stub.ReleaseReferences(curation_pb2.ReferenceIds(ids=args.ids), **call))
    elif cmd == "label":
        show(stub.UpdateReference(curation_pb2.UpdateReferenceRequest(
            id=args.id, add_labels=args.add, remove_labels=args.remove,
            set_metadata=_pairs(args.meta, "--meta"), remove_metadata=args.unset_meta), **call))
    elif cmd == "report":
        verdict = FeedbackVerdict.TRUE_POSITIVE if args.verdict == "true" else FeedbackVerdict.FALSE_POSITIVE
        feedback = Feedback(reference_id=args.reference_id, post_id=args.post_id, verdict=verdict, note=args.note)
        show(stub.ReportMatch(convert.feedback_to_pb(feedback), **call))
    elif cmd == "stats":
        if args.id:
            show(stub.GetReferenceStats(curation_pb2.GetReferenceRequest(id=args.id), **call))
        else:
            show(stub.GetCurationStats(curation_pb2.GetCurationStatsRequest(), **call))
    elif cmd == "list":
        query = ReferenceQuery(
            bank=args.bank, state=ReferenceState(args.state) if args.state else None, label=args.label,
            page_size=args.page_size, page_token=args.page_token, text=args.text,
        )
        show(stub.ListReferences(convert.reference_query_to_pb(query), **call))
    elif cmd == "audit":
        audit = AuditQuery(
            target=args.audit_target, actor=args.actor, action=args.action, since=args.since,
            page_size=args.page_size, page_token=args.page_token,
        )
        show(stub.QueryAudit(convert.audit_query_to_pb(audit), **call))
    elif cmd == "queue":
        queue = MatchLogQuery(
            bank=args.bank, verdict=Verdict(args.verdict) if args.verdict else None, label=args.label,
            include_reviewed=args.include_reviewed, page_size=args.page_size, page_token=args.page_token,
        )
        show(stub.ListMatchLog(convert.match_log_query_to_pb(queue), **call))
    elif cmd == "export":
        replies = stub.ExportReferences(curation_pb2.ExportReferencesRequest(after=args.after, limit=args.limit), **call)
        for pb in replies:
            print(json.dumps(reference_to_record(convert.reference_from_pb(pb)), ensure_ascii=False))
        print(f"next cursor: {convert.next_cursor_from_metadata(replies.trailing_metadata(), args.after)}", file=sys.stderr)
    elif cmd == "import":
        show(stub.ImportReferences(_read_jsonl(args.file), **call))


def add_curation_commands(sub: Any) -> None:
    bank = sub.add_parser("bank", help="create, list, update or delete banks")
    bank_sub = bank.add_subparsers(dest="bank_command", required=True)
    create = bank_sub.add_parser("create")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.add_argument("--kind", choices=_KINDS, default=BankKind.NORMAL.value)
    create.add_argument("--disabled", action="store_true")
    create.add_argument("--threshold", action="append", default=[], help="name=value override, e.g. translation_cosine=0.9")
    create.add_argument("--share", type=float, default=1.0, help=_SHARE_HELP + " (default 1: every post)")
    bank_sub.add_parser("list")
    stats = bank_sub.add_parser("stats", help="the bank's precision from reviews, in all and day by day")
    stats.add_argument("name")
    stats.add_argument("--days", type=int, default=0, help="days of daily figures (default 30, at most 366)")
    update = bank_sub.add_parser("update")
    update.add_argument("name")
    update.add_argument("--description")
    update.add_argument("--kind", choices=_KINDS)
    toggle = update.add_mutually_exclusive_group()
    toggle.add_argument("--enable", dest="enabled", action="store_const", const=True)
    toggle.add_argument("--disable", dest="enabled", action="store_const", const=False)
    update.add_argument("--threshold", action="append", default=[], help="name=value override")
    update.add_argument("--clear-threshold", action="append", default=[], help="drop an override (back to the default)")
    update.add_argument("--share", type=float, help=_SHARE_HELP)
    delete = bank_sub.add_parser("delete")
    delete.add_argument("name")
    delete.add_argument("--force", action="store_true", help="remove the bank's items too (tombstones are kept)")

    disable = sub.add_parser("disable", help="hold items out of matching")
    disable.add_argument("ids", nargs="+")
    disable.add_argument("--until", type=parse_time, help="ISO 8601 time or +SECONDS; default: until enabled")
    for name, text in (("enable", "end a disable"), ("release", "return quarantined items to matching")):
        sub.add_parser(name, help=text).add_argument("ids", nargs="+")
    label = sub.add_parser("label", help="change an item's labels and metadata")
    label.add_argument("id")
    label.add_argument("--add", action="append", default=[], help="namespace:value (org, ideology, type, source)")
    label.add_argument("--remove", action="append", default=[])
    label.add_argument("--meta", action="append", default=[], help="key=value")
    label.add_argument("--unset-meta", action="append", default=[])
    report = sub.add_parser("report", help="record a reviewer's verdict on a match")
    report.add_argument("reference_id")
    report.add_argument("post_id")
    report.add_argument("verdict", choices=["true", "false"], help="true or false positive")
    report.add_argument("--note", default="")
    stats = sub.add_parser("stats", help="an item's precision and match rate, or overall counts")
    stats.add_argument("id", nargs="?", default="")
    listing = sub.add_parser("list", help="list reference items")
    listing.add_argument("--bank", default="")
    listing.add_argument("--state", choices=_STATES)
    listing.add_argument("--label", default="")
    listing.add_argument("--text", default="", help="items whose text contains this (canonical form), or whose id is this")
    listing.add_argument("--page-size", type=int, default=0)
    listing.add_argument("--page-token", default="")
    audit = sub.add_parser("audit", help="query the audit log (newest first)")
    audit.add_argument("--target", dest="audit_target", default="", help="reference id, or bank:NAME")
    audit.add_argument("--actor", default="")
    audit.add_argument("--action", default="")
    audit.add_argument("--since", type=parse_time)
    audit.add_argument("--page-size", type=int, default=0)
    audit.add_argument("--page-token", default="")
    queue = sub.add_parser("queue", help="the review queue: flagged matches the service kept ([match_log] on)")
    queue.add_argument("--bank", default="")
    queue.add_argument("--verdict", choices=[v.value for v in Verdict if v is not Verdict.NO_MATCH])
    queue.add_argument("--label", default="")
    queue.add_argument("--include-reviewed", action="store_true", help="also pairs already reported with `report`")
    queue.add_argument("--page-size", type=int, default=0)
    queue.add_argument("--page-token", default="")
    export = sub.add_parser("export", help="write items and tombstones changed after a cursor as JSONL")
    export.add_argument("--after", type=int, default=0)
    export.add_argument("--limit", type=int, default=0)
    imp = sub.add_parser("import", help="apply a JSONL export")
    imp.add_argument("file", type=Path)
