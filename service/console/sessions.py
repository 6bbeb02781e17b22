"""Console sessions: the user's token stays on the server, the browser holds only a random session id.

The cookie is HttpOnly (no script reads it) and SameSite=Strict (no other
site's page sends it), and ``Secure`` when the console is served over HTTPS.
Every write is a POST carrying the session's CSRF token, compared in
constant time. Sessions expire after ``idle_seconds`` without a request, and
the table is bounded: the longest idle go first.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

COOKIE = "nigran_session"


@dataclass
class Session:
    token: str
    role: str  # what the token may do: "curator" (every page), "matcher" (Try a post only) or "admin"
    name: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    lang: str = "en"
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    def __init__(self, *, idle_seconds: float = 8 * 3600, max_sessions: int = 10_000) -> None:
        self._idle = idle_seconds
        self._max = max_sessions
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, session: Session) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            if len(self._by_id) >= self._max:
                for old in sorted(self._by_id, key=lambda k: self._by_id[k].seen)[: self._max // 10 + 1]:
                    del self._by_id[old]
            self._by_id[sid] = session
        return sid

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._by_id.get(sid)
            if session is None:
                return None
            if now - session.seen > self._idle:
                del self._by_id[sid]
                return None
            session.seen = now
            return session

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)


def csrf_ok(session: Session, sent: object) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(session.csrf.encode(), sent.encode())
