"""Only the expected host: the server-side half of a defence against DNS rebinding and
cross-site requests.

A page on ``evil.example`` can make the browser send requests to ``127.0.0.1:7860``: a form
post (no preflight) straight away, or anything once its own name resolves to 127.0.0.1 (DNS
rebinding; the request then carries ``Host: evil.example:7860``). :class:`HostGuard` answers
403 to a request whose ``Host`` is not one the chat serves as, and to a state-changing request
(anything but GET, HEAD, OPTIONS) whose ``Origin`` (when present) is not such a host either.
It wraps the whole ASGI app, so the page, the Gradio API, the queue and the upload route are all
covered, websockets included.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from qa.web.asgi import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
log = logging.getLogger("qa.hostguard")


def host_name(value: str) -> str:
    """The host of a ``Host`` header or of a URL's authority, lower case, without the port or
    the brackets of an IPv6 address ("" when it cannot be parsed)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else ""
    if value.count(":") > 1:  # a bare IPv6 address
        return value
    return value.rpartition(":")[0] if ":" in value else value


def allowed_hosts(listen: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names a chat listening on ``listen`` answers to: the loopback names (a request
    naming one comes from this machine: Gradio checks its own start that way), the address it
    listens on unless that is a wildcard (0.0.0.0, ::), and the ``--allowed-host`` names."""
    hosts = {host_name(name) or name.lower() for name in extra} | set(LOOPBACK_NAMES)
    listen = listen.strip("[]").lower()
    if not is_wildcard(listen):
        hosts.add(listen)
    return frozenset(hosts)


def is_wildcard(listen: str) -> bool:
    try:
        return ipaddress.ip_address(listen.strip("[]")).is_unspecified
    except ValueError:
        return False


class HostGuard:
    """ASGI middleware: 403 unless the ``Host`` (and, on a state-changing request, the
    ``Origin``) names one of ``hosts``."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(host.lower() for host in hosts)

    def problem(self, scope: Scope) -> str | None:
        """Why this request is refused, or None."""
        headers = {key.decode("latin-1").lower(): value.decode("latin-1")
                   for key, value in scope.get("headers", [])}
        host = host_name(headers.get("host", ""))
        if host not in self.hosts:
            return f"Host {headers.get('host', '')!r} is not served here"
        origin = headers.get("origin")
        method = "GET" if scope["type"] == "websocket" else scope.get("method", "GET").upper()
        if origin is not None and (method not in SAFE_METHODS or scope["type"] == "websocket"):
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or host_name(parts.netloc) not in self.hosts:
                return f"Origin {origin!r} may not change anything here"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        problem = self.problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("?", 0)
        log.warning("qa: refused %s %s from %s: %s", scope.get("method", "WS"), scope.get("path", ""),
                    client[0], problem)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = f"403 Forbidden: {problem}\n".encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def server_middleware(
    host: str, allowed: Iterable[str] = (), *,
    login_attempts: int | None = None, login_lockout: float | None = None,
) -> list[Any]:
    """Starlette ``Middleware`` for the chat's FastAPI app (``app_kwargs={"middleware": ...}``):
    the host guard, and login throttling when ``login_attempts`` is given (``--auth``)."""
    from starlette.middleware import Middleware

    from qa.web.throttle import DEFAULT_LOCKOUT, Attempts, LoginThrottle

    stack = [Middleware(HostGuard, hosts=allowed_hosts(host, allowed))]
    if login_attempts is not None:
        attempts = Attempts(login_attempts, login_lockout or DEFAULT_LOCKOUT)
        stack.append(Middleware(LoginThrottle, attempts=attempts))
    return stack


def check_hosts(host: str, allowed: Iterable[str], login_attempts: int, login_lockout: float) -> None:
    """Refuse, before any slow work, settings under which no request could get through."""
    from qa.errors import ConfigError

    if is_wildcard(host) and not list(allowed):
        raise ConfigError(
            f"listening on {host}, the chat answers only the host names given with --allowed-host:"
            " add --allowed-host NAME (the name or address other machines use to reach this one)"
        )
    if login_attempts < 1 or login_lockout <= 0:
        raise ConfigError("--login-attempts must be at least 1 and --login-lockout more than 0 seconds")
