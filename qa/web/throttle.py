"""Login throttling for a chat started with ``--auth``: password guessing slowed to a crawl.

Gradio answers ``POST /login`` as fast as it can, so 100 guesses took a second. After
``attempts`` failed logins in a row from one client address, :class:`LoginThrottle` refuses that
client's logins (429, with ``Retry-After``) for ``lockout`` seconds; each further lockout of the
same client doubles, up to :data:`MAX_LOCKOUT` (an hour). A success clears the client's record.
Failures are logged with the client address only: never the user name typed, nor the password.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from qa.web.asgi import ASGIApp, Message, Receive, Scope, Send

DEFAULT_ATTEMPTS = 5
DEFAULT_LOCKOUT = 60.0
MAX_LOCKOUT = 3600.0
MAX_CLIENTS = 10_000  # clients remembered; the oldest records go first beyond that
log = logging.getLogger("qa.throttle")


@dataclass
class Record:
    failures: int = 0
    lockouts: int = 0
    until: float = 0.0
    seen: float = 0.0


class Attempts:
    """Failed logins per client, and who is locked out until when. Thread-safe."""

    def __init__(self, attempts: int = DEFAULT_ATTEMPTS, lockout: float = DEFAULT_LOCKOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if attempts < 1 or lockout <= 0:
            raise ValueError("login attempts must be at least 1 and the lockout longer than 0 s")
        self.attempts, self.lockout, self.clock = attempts, lockout, clock
        self.records: dict[str, Record] = {}
        self.lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds ``client`` must wait before its next login is heard (0: go ahead)."""
        with self.lock:
            record = self.records.get(client)
            return max(0.0, record.until - self.clock()) if record else 0.0

    def failed(self, client: str) -> float:
        """Record a failed login; returns the lockout it starts (0 when none)."""
        now = self.clock()
        with self.lock:
            record = self.records.pop(client, None) or Record()
            record.failures += 1
            record.seen = now
            self.records[client] = record  # re-inserted: the dict stays in order of last use
            if len(self.records) > MAX_CLIENTS:
                del self.records[next(iter(self.records))]
            if record.failures < self.attempts:
                return 0.0
            seconds = min(self.lockout * 2 ** record.lockouts, MAX_LOCKOUT)
            record.lockouts += 1
            record.failures = 0
            record.until = now + seconds
            return seconds

    def succeeded(self, client: str) -> None:
        with self.lock:
            self.records.pop(client, None)


def is_login(scope: Scope) -> bool:
    path = str(scope.get("path", "")).rstrip("/")
    return scope["type"] == "http" and scope.get("method") == "POST" and path.endswith("/login")


class LoginThrottle:
    """ASGI middleware around Gradio's login route (``POST /login``)."""

    def __init__(self, app: ASGIApp, attempts: Attempts) -> None:
        self.app, self.attempts = app, attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_login(scope):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.attempts.wait(client)
        if wait > 0:
            log.warning("qa: login from %s refused: locked out for %.0f s more", client, wait)
            body = f"Too many failed logins: try again in {wait:.0f} s.\n".encode()
            headers = [(b"content-type", b"text/plain; charset=utf-8"),
                       (b"retry-after", str(int(wait) + 1).encode()),
                       (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, watch)
        if status and status[0] < 400:
            self.attempts.succeeded(client)
        elif status:
            seconds = self.attempts.failed(client)
            suffix = f"; locked out for {seconds:.0f} s" if seconds else ""
            log.warning("qa: failed login from %s%s", client, suffix)
