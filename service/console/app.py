"""The console's pages: Starlette with server-rendered Jinja2 templates, every datum from the gRPC API.

``create_app(channel)`` is kept apart from serving it (``__main__.py``), so
tests run the same app against a server of their own. Each request runs its
RPCs with the session's token; what the service refuses is shown as the
service said it (a field violation next to the form, a page the role may not
open as 403), never papered over.
"""

from __future__ import annotations

import difflib
import html
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

import grpc
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from service.api import convert
from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from service.api.status import field_violations
from service.console.i18n import DIRECTION, LANGUAGES, label
from service.console.sessions import COOKIE, Session, Sessions, csrf_ok
from service.console.uploads import MAX_UPLOAD_BYTES, Uploads, parse
from service.core import (
    SUPPORTED_LANGUAGES, Bank, BankChanges, BankKind, Feedback, FeedbackVerdict, MatchLogQuery, NewReference, Post, ReferenceQuery,
    ReferenceState, Verdict
)

HERE = Path(__file__).parent
# The role each page needs; "matcher" pages are open to every role that may match.
CURATOR_PAGES = frozenset({"banks", "references", "queue", "audit", "quality"})
# The published evaluation (make eval --publish docs/eval) of the checkout the console runs from.
PUBLISHED_EVAL = HERE.parent.parent / "docs" / "eval"


@dataclass(frozen=True)
class ConsoleConfig:
    # Serve the session cookie with Secure (the console behind HTTPS).
    secure_cookies: bool = False
    idle_seconds: float = 8 * 3600
    timeout: float = 60.0
    # Where the Quality page finds eval.json and by_bank_size.png; None: no published evaluation.
    eval_dir: Path | None = PUBLISHED_EVAL


class _Stubs:
    def __init__(self, channel: grpc.Channel) -> None:
        self.curation = curation_pb2_grpc.CurationStub(channel)
        self.matcher = matcher_pb2_grpc.MatcherStub(channel)


class _Refused(Exception):
    def __init__(self, err: grpc.RpcError) -> None:
        super().__init__(err.details())
        self.code = err.code()
        self.details = err.details() or ""
        self.violations = field_violations(err)


def create_app(channel: grpc.Channel, config: ConsoleConfig = ConsoleConfig()) -> Starlette:
    stubs = _Stubs(channel)
    sessions = Sessions(idle_seconds=config.idle_seconds)
    uploads = Uploads()
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    async def call(session: Session, stub: Any, method: str, message: Any) -> Any:
        rpc = getattr(stub, method)
        metadata = [("authorization", f"Bearer {session.token}")]
        try:
            return await run_in_threadpool(rpc, message, metadata=metadata, timeout=config.timeout)
        except grpc.RpcError as err:
            raise _Refused(err) from None

    def page(request: Request, session: Session | None, name: str, status: int = 200, **context: Any) -> Response:
        lang = session.lang if session else request.query_params.get("lang", "en")
        lang = lang if lang in LANGUAGES else "en"
        return templates.TemplateResponse(
            request, f"{name}.html",
            {"t": lambda key: label(key, lang), "day": _day, "lang": lang, "dir": DIRECTION[lang], "session": session, "page": name,
             "curator": session is not None and session.role != "matcher", **context},
            status_code=status,
        )

    def guarded(name: str, handler: Callable[[Request, Session], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = sessions.get(request.cookies.get(COOKIE))
            if session is None:
                return RedirectResponse("/signin", status_code=303)
            if name in CURATOR_PAGES and session.role == "matcher":
                return page(request, session, "refused", status=403, details="")
            if request.method == "POST":
                form = await request.form()
                if not csrf_ok(session, form.get("csrf")):
                    return Response("CSRF token missing or wrong", status_code=403)
            try:
                return await handler(request, session)
            except (_FormError, ValueError) as unreadable:
                return page(request, session, "error", status=400, refused=None, message=str(unreadable))
            except _Refused as refused:
                if refused.code is grpc.StatusCode.UNAUTHENTICATED:
                    sessions.close(request.cookies.get(COOKIE))
                    return RedirectResponse("/signin", status_code=303)
                if refused.code is grpc.StatusCode.PERMISSION_DENIED:
                    return page(request, session, "refused", status=403, details=refused.details)
                return page(request, session, "error", status=400, refused=refused)

        return endpoint

    # -- signing in -------------------------------------------------------------------

    async def signin(request: Request) -> Response:
        if request.method == "GET":
            return page(request, None, "signin")
        form = await request.form()
        token = str(form.get("token", "")).strip()
        lang = str(form.get("lang", "en"))
        role = await run_in_threadpool(_role_of, stubs, token, config.timeout)
        if role is None:
            return page(request, None, "signin", status=401, error="That token is not one the service knows.")
        session = Session(token=token, role=role, name=role, lang=lang if lang in LANGUAGES else "en")
        sid = sessions.open(session)
        response = RedirectResponse("/try" if role == "matcher" else "/banks", status_code=303)
        response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", secure=config.secure_cookies, path="/")
        return response

    async def signout(request: Request, session: Session) -> Response:
        sessions.close(request.cookies.get(COOKIE))
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def language(request: Request, session: Session) -> Response:
        form = await request.form()
        session.lang = str(form.get("lang")) if form.get("lang") in LANGUAGES else "en"
        return RedirectResponse(str(form.get("back") or "/"), status_code=303)

    async def home(request: Request) -> Response:
        return RedirectResponse("/banks", status_code=303)

    # -- banks ------------------------------------------------------------------------

    async def banks(request: Request, session: Session) -> Response:
        if request.method == "POST":
            form = await request.form()
            action = form.get("action")
            if action == "create":
                bank = Bank(
                    name=str(form.get("name", "")).strip(), description=str(form.get("description", "")),
                    kind=BankKind(str(form.get("kind", "normal"))), match_share=float(str(form.get("match_share") or 1.0)),
                )
                await call(session, stubs.curation, "CreateBank", convert.create_bank_to_pb(bank))
            elif action in ("enable", "disable"):
                request_pb = curation_pb2.UpdateBankRequest(name=str(form.get("name")), enabled=action == "enable")
                await call(session, stubs.curation, "UpdateBank", request_pb)
            elif action == "kind":
                kind = BankKind(str(form.get("kind")))
                request_pb = convert.bank_changes_to_pb(str(form.get("name")), BankChanges(kind=kind))
                await call(session, stubs.curation, "UpdateBank", request_pb)
            elif action == "thresholds":
                request_pb = curation_pb2.UpdateBankRequest(name=str(form.get("name")))
                key, value = str(form.get("key", "")).strip(), str(form.get("value", "")).strip()
                if value:
                    request_pb.set_thresholds[key] = _number(value, "value")
                else:
                    request_pb.clear_thresholds.append(key)
                await call(session, stubs.curation, "UpdateBank", request_pb)
            return RedirectResponse("/banks", status_code=303)
        reply = await call(session, stubs.curation, "ListBanks", curation_pb2.ListBanksRequest())
        effective = {b.name: dict(sorted(b.effective_thresholds.items())) for b in reply.banks}
        return page(
            request, session, "banks", banks=[convert.bank_from_pb(b) for b in reply.banks], kinds=[k.value for k in BankKind],
            effective=effective,
        )

    async def bank(request: Request, session: Session) -> Response:
        name = request.path_params["name"]
        stats = await call(session, stubs.curation, "GetBankStats", curation_pb2.GetBankStatsRequest(name=name, days=int(request.query_params.get("days", 30))))
        return page(request, session, "bank", stats=convert.bank_stats_from_pb(stats))

    # -- references -------------------------------------------------------------------

    async def references(request: Request, session: Session) -> Response:
        if request.method == "POST":
            form = await request.form()
            action = form.get("action")
            ref_id = str(form.get("id", ""))
            if action == "add":
                labels = tuple(x.strip() for x in str(form.get("labels", "")).split(",") if x.strip())
                ref = NewReference(text=str(form.get("text", "")), lang=str(form.get("lang", "")), bank=str(form.get("bank", "")), labels=labels)
                await call(session, stubs.curation, "AddReferences", convert.add_request_to_pb([ref]))
            elif action == "remove":
                await call(session, stubs.curation, "RemoveReferences", curation_pb2.RemoveReferencesRequest(ids=[ref_id]))
            elif action == "disable":
                until = str(form.get("until", "")).strip()
                seconds = _until(until) if until else None
                await call(session, stubs.curation, "DisableReferences", convert.disable_to_pb([ref_id], seconds))
            elif action in ("add_label", "remove_label"):
                name = str(form.get("label", "")).strip()
                edit = curation_pb2.UpdateReferenceRequest(id=ref_id)
                (edit.add_labels if action == "add_label" else edit.remove_labels).append(name)
                await call(session, stubs.curation, "UpdateReference", edit)
            elif action in ("enable", "release"):
                rpc = "EnableReferences" if action == "enable" else "ReleaseReferences"
                await call(session, stubs.curation, rpc, curation_pb2.ReferenceIds(ids=[ref_id]))
            return RedirectResponse(str(form.get("back") or "/references"), status_code=303)
        q = request.query_params
        query = ReferenceQuery(
            bank=q.get("bank", ""), label=q.get("label", ""), state=ReferenceState(q["state"]) if q.get("state") else None,
            page_token=q.get("page_token", ""), text=q.get("text", ""),
        )
        reply = await call(session, stubs.curation, "ListReferences", convert.reference_query_to_pb(query))
        items = [convert.reference_from_pb(r) for r in reply.references]
        banks_reply = await call(session, stubs.curation, "ListBanks", curation_pb2.ListBanksRequest())
        return page(
            request, session, "references", items=items, next_page_token=reply.next_page_token, query=q,
            banks=[b.name for b in banks_reply.banks], states=[s.value for s in ReferenceState], langs=SUPPORTED_LANGUAGES,
        )

    async def upload(request: Request, session: Session) -> Response:
        form = await request.form()
        sent = form.get("file")
        if sent is None or isinstance(sent, str):
            raise _FormError("file", "choose a JSONL or CSV file")
        data = await sent.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise _FormError("file", f"larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: use `nigran import` or index_builder")
        items, rejects = parse(sent.filename or "", data, NewReference(text="", bank=str(form.get("bank") or "default")))
        metadata = [("authorization", f"Bearer {session.token}")]
        job = uploads.start(items, rejects, lambda message: stubs.curation.AddReferences(message, metadata=metadata, timeout=config.timeout))
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    async def reference(request: Request, session: Session) -> Response:
        ref_id = request.path_params["ref_id"]
        item = await call(session, stubs.curation, "GetReference", curation_pb2.GetReferenceRequest(id=ref_id))
        stats = await call(session, stubs.curation, "GetReferenceStats", curation_pb2.GetReferenceRequest(id=ref_id))
        return page(request, session, "reference", item=convert.reference_from_pb(item), stats=convert.reference_stats_from_pb(stats))

    async def job(request: Request, session: Session) -> Response:
        found = uploads.get(request.path_params["job_id"])
        if found is None:
            return Response("no such upload", status_code=404)
        return page(request, session, "job", job=found)

    # -- try a post -------------------------------------------------------------------

    async def try_post(request: Request, session: Session) -> Response:
        text = ""
        result, explained = None, []
        if request.method == "POST":
            form = await request.form()
            text = str(form.get("text", ""))
            # Its own id, so a review of this try (ReportMatch is per post and reference) is of this post alone.
            post = Post(id=f"console-{uuid.uuid4().hex[:12]}", text=text)
            reply = await call(session, stubs.matcher, "Match", convert.match_request_to_pb([post], top_k=10))
            [result] = [convert.result_from_pb(r) for r in reply.results]
            for match in result.matches:
                reference = await _reference_text(session, call, stubs, match.reference_id)
                comparison = None
                if reference:
                    compared = await call(session, stubs.matcher, "Compare", convert.compare_request_to_pb(text, reference))
                    comparison = convert.comparison_from_pb(compared)
                explained.append((match, reference, comparison, _diff(text, reference) if reference else ""))
        return page(request, session, "try", text=text, result=result, explained=explained)

    # -- review queue -----------------------------------------------------------------

    async def queue(request: Request, session: Session) -> Response:
        if request.method == "POST":
            form = await request.form()
            post_id, ref_id = str(form.get("post_id", "")), str(form.get("reference_id", ""))
            verdict = FeedbackVerdict(str(form.get("verdict")))
            feedback = Feedback(reference_id=ref_id, post_id=post_id, verdict=verdict, note="console")
            await call(session, stubs.curation, "ReportMatch", convert.feedback_to_pb(feedback))
            allow_bank = str(form.get("allow_bank", ""))
            if verdict is FeedbackVerdict.FALSE_POSITIVE and allow_bank:
                # One click: the post itself becomes an allow-list item, so it never flags again.
                allowed = NewReference(text=str(form.get("post_text", "")), bank=allow_bank, labels=("source:review",))
                await call(session, stubs.curation, "AddReferences", convert.add_request_to_pb([allowed]))
            return RedirectResponse("/queue", status_code=303)
        q = request.query_params
        query = MatchLogQuery(
            bank=q.get("bank", ""), verdict=Verdict(q["verdict"]) if q.get("verdict") else None, label=q.get("label", ""),
            include_reviewed=q.get("include_reviewed") == "1", page_token=q.get("page_token", ""),
        )
        reply = await call(session, stubs.curation, "ListMatchLog", convert.match_log_query_to_pb(query))
        banks_reply = await call(session, stubs.curation, "ListBanks", curation_pb2.ListBanksRequest())
        all_banks = [convert.bank_from_pb(b) for b in banks_reply.banks]
        return page(
            request, session, "queue", entries=[convert.logged_match_from_pb(e) for e in reply.entries],
            next_page_token=reply.next_page_token, banks=all_banks,
            allow_banks=[b.name for b in all_banks if b.kind is BankKind.SUPPRESSION], query=q,
        )

    # -- quality ----------------------------------------------------------------------

    async def quality(request: Request, session: Session) -> Response:
        stats = await call(session, stubs.curation, "GetCurationStats", curation_pb2.GetCurationStatsRequest())
        banks_reply = await call(session, stubs.curation, "ListBanks", curation_pb2.ListBanksRequest())
        defaults = next((dict(sorted(b.effective_thresholds.items())) for b in banks_reply.banks if b.name == "default"), {})
        published = _published_eval(config.eval_dir)
        return page(
            request, session, "quality", stats=convert.curation_stats_from_pb(stats), thresholds=defaults, published=published,
            plot=published is not None and config.eval_dir is not None and (config.eval_dir / "by_bank_size.png").exists(),
        )

    async def quality_plot(request: Request, session: Session) -> Response:
        if config.eval_dir is None or not (config.eval_dir / "by_bank_size.png").exists():
            return Response(status_code=404)
        return FileResponse(config.eval_dir / "by_bank_size.png", media_type="image/png")

    # -- audit ------------------------------------------------------------------------

    async def audit(request: Request, session: Session) -> Response:
        q = request.query_params
        message = curation_pb2.QueryAuditRequest(
            actor=q.get("actor", ""), action=q.get("action", ""), target=q.get("target", ""), page_token=q.get("page_token", "")
        )
        reply = await call(session, stubs.curation, "QueryAudit", message)
        entries = [convert.audit_entry_from_pb(e) for e in reply.entries]
        return page(request, session, "audit", entries=entries, next_page_token=reply.next_page_token, query=q)

    routes = [
        Route("/", home),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", guarded("signout", signout), methods=["POST"]),
        Route("/language", guarded("language", language), methods=["POST"]),
        Route("/banks", guarded("banks", banks), methods=["GET", "POST"]),
        Route("/banks/{name}", guarded("banks", bank)),
        Route("/references", guarded("references", references), methods=["GET", "POST"]),
        Route("/references/upload", guarded("references", upload), methods=["POST"]),
        Route("/jobs/{job_id}", guarded("references", job)),
        Route("/references/{ref_id}", guarded("references", reference)),
        Route("/try", guarded("try", try_post), methods=["GET", "POST"]),
        Route("/queue", guarded("queue", queue), methods=["GET", "POST"]),
        Route("/audit", guarded("audit", audit)),
        Route("/quality", guarded("quality", quality)),
        Route("/quality/by_bank_size.png", guarded("quality", quality_plot)),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return Starlette(routes=routes)


def _role_of(stubs: _Stubs, token: str, timeout: float) -> str | None:
    """What the token may do, asked of the service: curation (curator or admin), matching only, or nothing."""
    if not token:
        return None
    metadata = [("authorization", f"Bearer {token}")]
    try:
        stubs.curation.GetCurationStats(curation_pb2.GetCurationStatsRequest(), metadata=metadata, timeout=timeout)
        return "curator"
    except grpc.RpcError as err:
        if err.code() is grpc.StatusCode.UNAUTHENTICATED:
            return None
        if err.code() is not grpc.StatusCode.PERMISSION_DENIED:
            raise
    try:
        # An empty Match: refused as INVALID_ARGUMENT once the token may match, before any model work.
        stubs.matcher.Match(matcher_pb2.MatchRequest(), metadata=metadata, timeout=timeout)
    except grpc.RpcError as err:
        return "matcher" if err.code() is grpc.StatusCode.INVALID_ARGUMENT else None
    return "matcher"


async def _reference_text(session: Session, call: Any, stubs: _Stubs, ref_id: str) -> str:
    """The reference's text, or "" where the role may not read it or it has none (a hash-only item)."""
    if session.role == "matcher":
        return ""
    item = await call(session, stubs.curation, "GetReference", curation_pb2.GetReferenceRequest(id=ref_id))
    return str(item.text)


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d")


def _until(value: str) -> float:
    """A browser's datetime-local value (no zone) as UTC, or any ISO 8601 time with its zone."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _number(value: str, field: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise _FormError(field, f"{value!r} is not a number") from None


class _FormError(Exception):
    """A form value the console itself cannot read (the service checks everything else)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")


def _published_eval(eval_dir: Path | None) -> dict[str, Any] | None:
    """The published evaluation's Nigran rows and what it was run on, or None."""
    path = None if eval_dir is None else eval_dir / "eval.json"
    if path is None or not path.exists():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    rows = [r for r in report.get("rows", []) if r.get("method") == "nigran" and r.get("recall") is not None]
    return {"rows": rows, "mode": report.get("mode"), "model_id": report.get("model_id"), "thresholds": report.get("thresholds_source")}


def _diff(post: str, reference: str) -> str:
    """Word by word, what the post shares with the reference (kept) and what it adds or drops, as escaped HTML."""
    a, b = post.split(), reference.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(html.escape(" ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(f"<ins>{html.escape(' '.join(a[i1:i2]))}</ins>")
        if j2 > j1:
            out.append(f"<del>{html.escape(' '.join(b[j1:j2]))}</del>")
    return " ".join(out)
