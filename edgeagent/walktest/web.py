"""The walk test's page for the technician's phone: read-only, one-time token, short-lived.

Served with the standard library's `http.server` on a thread, only while
`walk-test --web` runs. Every request must carry the token (`?t=...`) that the
terminal shows as a QR code; it stops working when the walk test ends or
after `TOKEN_LIFETIME_S`, whichever comes first, and anything else gets 403.
The page only reads: there is no request that changes anything, and the test
alarms are sent from the terminal alone.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from edgeagent.i18n import _, current_language

TOKEN_LIFETIME_S = 30 * 60
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; connect-src 'self'; "
                                "style-src 'self'; frame-ancestors 'none'"),
}
ASSETS = {"/": ("walk.html", "text/html; charset=utf-8"),
          "/walk.js": ("walk.js", "text/javascript; charset=utf-8"),
          "/walk.css": ("walk.css", "text/css; charset=utf-8")}


def lan_address() -> str:
    """The address of the interface that holds the default route (no packet is sent);
    loopback when the kit has no network."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only selects a route
        address: str = probe.getsockname()[0]
    except OSError:
        address = "127.0.0.1"
    finally:
        probe.close()
    return address


class Token:
    """A random token, valid until `revoke()` or `lifetime` seconds on `monotonic`."""

    def __init__(self, lifetime: float = TOKEN_LIFETIME_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.value = secrets.token_urlsafe(16)
        self.monotonic = monotonic
        self.expires = monotonic() + lifetime
        self.revoked = False

    def accepts(self, offered: str | None) -> bool:
        if self.revoked or offered is None or self.monotonic() >= self.expires:
            return False
        return hmac.compare_digest(offered.encode(), self.value.encode())

    def revoke(self) -> None:
        self.revoked = True


def page_labels() -> dict[str, str]:
    """The page's words in the technician's language (`--lang`); the data stays as is."""
    return {
        "title": _("Walk test"),
        "sensors": _("Sensors"),
        "silent": _("Silent after the walk"),
        "alarms": _("Test alarms"),
        "report": _("Report"),
        "phase_walking": _("Walk the home: each sensor ticks when it fires."),
        "phase_alarms": _("Walk finished; test alarms are being sent from the terminal."),
        "phase_done": _("Walk test finished."),
        "ended": _("The walk test has ended or this link expired; the last state stays on "
                   "screen."),
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "edgeagent-walk-test"
    sys_version = ""
    assets: ClassVar[dict[str, bytes]] = {}

    @property
    def page(self) -> WalkPage:
        server: Any = self.server
        page: WalkPage = server.page
        return page

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the terminal shows the walk, not an access log."""

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        offered = parse_qs(url.query).get("t")
        token = offered[0] if offered else None
        if not self.page.token.accepts(token):
            self.page.refused += 1
            self._send(HTTPStatus.FORBIDDEN, b"walk test link expired or wrong\n",
                       "text/plain; charset=utf-8")
            return
        if url.path == "/state.json":
            state = {**self.page.snapshot(), "labels": page_labels(),
                     "lang": current_language()}
            body = json.dumps(state, ensure_ascii=False).encode()
            self._send(HTTPStatus.OK, body, "application/json; charset=utf-8")
        elif url.path in ASSETS:
            name, content_type = ASSETS[url.path]
            body = self.page.asset(name)
            if url.path == "/":  # the page's own links carry its token
                body = body.replace(b"{{q}}", f"?t={self.page.token.value}".encode())
            self._send(HTTPStatus.OK, body, content_type)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    do_HEAD = do_GET  # noqa: N815

    def _read_only(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"read-only page\n",
                   "text/plain; charset=utf-8")

    do_POST = do_PUT = do_DELETE = do_PATCH = _read_only  # noqa: N815


class WalkPage:
    """The page's server: `start()` binds and serves on a thread, `stop()` revokes and closes."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]], *, host: str, port: int = 0,
                 token: Token | None = None) -> None:
        self.snapshot = snapshot
        self.token = token or Token()
        self.refused = 0
        self._assets: dict[str, bytes] = {}
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.page = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="walk-test-web",
                                        daemon=True)

    def asset(self, name: str) -> bytes:
        if name not in self._assets:
            self._assets[name] = (resources.files("edgeagent.walktest") / "static" / name) \
                .read_bytes()
        return self._assets[name]

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}/?t={self.token.value}"

    def start(self) -> WalkPage:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.token.revoke()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


def terminal_qr(url: str) -> str | None:
    """The URL as a QR code drawn with block characters, or None without `segno`."""
    try:
        import segno  # noqa: PLC0415 - only for --web
    except ImportError:
        return None
    import io  # noqa: PLC0415

    out = io.StringIO()
    segno.make(url, error="l").terminal(out=out, compact=True)
    return out.getvalue()
