#!/usr/bin/env python3
"""hardening-demo-app: the reference application the hardening checks are proven against.

Standard library only. Listens on APP_LISTEN (default 127.0.0.1:8000) and serves:

- ``GET /healthz``: ``{"status": "ok", "db": "ok"|"error"}`` (db: ``SELECT 1`` through
  ``psql`` on DATABASE_URL, the password passed in PGPASSWORD, never on a command line)
- ``GET/POST /api/items``: a JSON list kept in memory
- ``GET /api/slow?ms=N``: answers after N ms (at most 10 s)
- ``GET /api/error``: the declared failing route, 500 ``{"error": "..."}``, no stack trace
- ``GET /ws``: RFC 6455 WebSocket echo (text, binary, ping/pong, close)
- ``POST /upload``: raw body, answers ``{"size": n, "sha256": hex, "max_bytes": limit}``
- ``POST /login``: sets the ``session`` cookie (Secure; HttpOnly; SameSite=Strict; Max-Age)
- ``GET /api/session``: 200 ``{"sub": ...}`` for a valid token (``Authorization: Bearer`` or
  the ``session`` cookie), 401 otherwise

With JWT_KEYS_FILE (a JWKS-like ``{"current": kid, "keys": {kid: key}}`` kept by the
toolkit's key rotation) session tokens are HS256 JWTs signed with the ``current`` key and
carrying its ``kid``; a token verifies with any key still listed. The file is read again
when it changes, so a rotation needs no restart. Without it JWT_SECRET signs and verifies.
- ``GET /metrics``: Prometheus text format: ``http_requests_total{code,path}``,
  ``http_request_duration_seconds`` (histogram), ``websocket_connections_total`` (opened),
  ``websocket_disconnections_total`` (ended without a normal close from the client: close
  codes other than 1000/1001, timeouts, resets), ``api_rate_limit_limit`` (requests per
  minute a client may send to /api/: APP_RATE_LIMIT_PER_SECOND, nginx's limit_req rate,
  times 60) and ``api_rate_limit_remaining`` (what the busiest client has left of it over
  the last minute; clients by nginx's X-Real-IP)
- static files of APP_STATIC_DIR (``/``, ``/sw.js``, ``/static/...``)

Each request is exported as an OTLP/HTTP JSON span to OTLP_ENDPOINT when it is set
(best effort, from a background thread; a full queue drops spans).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import queue
import secrets
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROUTES = (
    "/healthz",
    "/api/items",
    "/api/slow",
    "/api/error",
    "/ws",
    "/upload",
    "/login",
    "/api/session",
)
SESSION_SECONDS = 3600
#: Close codes of a normal end of a WebSocket (1005: a close frame without a code).
NORMAL_CLOSE = (1000, 1001, 1005)
#: Window of the API rate-limit gauges, in seconds.
RATE_WINDOW = 60
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "application/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webp": "image/webp",
}


def websocket_accept(key: str) -> str:
    """The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked server frame."""
    head = bytes([0x80 | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([size])
    elif size < 65536:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


def read_frame(read) -> tuple[int, bytes]:
    """(opcode, payload) of the next frame; ``read(n)`` returns exactly n bytes."""
    first, second = read(2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", read(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", read(8))[0]
    mask = read(4) if second & 0x80 else b""
    payload = read(size)
    if mask:
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return first & 0x0F, payload


class Metrics:
    """Request counters, a latency histogram, WebSocket counters and the API rate-limit
    gauges, rendered in Prometheus text format."""

    def __init__(self, rate_per_second: int = 10) -> None:
        self.lock = threading.Lock()
        self.rate_limit = rate_per_second * RATE_WINDOW
        #: client -> (window number, requests in it, requests in the window before)
        self.api_clients: dict[str, tuple[int, int, int]] = {}
        self.requests: dict[tuple[str, str], int] = {}
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.total = 0.0
        self.ws_open = 0
        self.ws_closed = 0

    def observe(self, path: str, code: int, seconds: float) -> None:
        with self.lock:
            key = (str(code), path)
            self.requests[key] = self.requests.get(key, 0) + 1
            self.count += 1
            self.total += seconds
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[index] += 1

    def websocket(self, opened: bool) -> None:
        """A WebSocket connection opened, or (``False``) ended without a normal close."""
        with self.lock:
            if opened:
                self.ws_open += 1
            else:
                self.ws_closed += 1

    def api_request(self, client: str, now: float) -> None:
        """Count one /api/ request of ``client`` at ``now`` (Unix time)."""
        window = int(now // RATE_WINDOW)
        with self.lock:
            last, current, previous = self.api_clients.get(client, (window, 0, 0))
            if window != last:
                current, previous = 0, (current if window == last + 1 else 0)
            self.api_clients[client] = (window, current + 1, previous)

    def api_rate_remaining(self, now: float) -> int:
        """What the busiest client has left of ``rate_limit`` over the last window (sliding
        estimate: the previous window weighted by the part of it still inside)."""
        window, elapsed = divmod(now, RATE_WINDOW)
        busiest = 0.0
        with self.lock:
            for client, (last, current, previous) in list(self.api_clients.items()):
                if last == int(window):
                    used = current + previous * (1 - elapsed / RATE_WINDOW)
                elif last == int(window) - 1:
                    used = current * (1 - elapsed / RATE_WINDOW)
                else:
                    del self.api_clients[client]
                    continue
                busiest = max(busiest, used)
        return max(0, self.rate_limit - round(busiest))

    def render(self, now: float | None = None) -> str:
        remaining = self.api_rate_remaining(time.time() if now is None else now)
        with self.lock:
            lines = [
                "# HELP http_requests_total HTTP requests by status code and route.",
                "# TYPE http_requests_total counter",
            ]
            for (code, path), value in sorted(self.requests.items()):
                lines.append(f'http_requests_total{{code="{code}",path="{path}"}} {value}')
            lines += [
                "# HELP http_request_duration_seconds Request latency.",
                "# TYPE http_request_duration_seconds histogram",
            ]
            for bound, value in zip(BUCKETS, self.buckets, strict=True):
                lines.append(f'http_request_duration_seconds_bucket{{le="{bound}"}} {value}')
            lines.append(f'http_request_duration_seconds_bucket{{le="+Inf"}} {self.count}')
            lines.append(f"http_request_duration_seconds_sum {self.total:.6f}")
            lines.append(f"http_request_duration_seconds_count {self.count}")
            for name, value, text in (
                ("websocket_connections_total", self.ws_open, "WebSocket connections opened."),
                ("websocket_disconnections_total", self.ws_closed, "WebSocket connections lost."),
            ):
                lines += [f"# HELP {name} {text}", f"# TYPE {name} counter", f"{name} {value}"]
            for name, value, text in (
                ("api_rate_limit_limit", self.rate_limit, "Requests per minute per client."),
                ("api_rate_limit_remaining", remaining, "Left for the busiest client."),
            ):
                lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {value}"]
            return "\n".join(lines) + "\n"


def route_of(path: str) -> str:
    """Metric label of a request path: a known route, ``static`` or ``other``."""
    for route in ROUTES + ("/metrics",):
        if path == route:
            return route
    return "static" if path == "/" or path.startswith("/static/") or path == "/sw.js" else "other"


class Tracer:
    """Best-effort OTLP/HTTP JSON export of one span per request."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        if self.endpoint and not self.endpoint.endswith("/v1/traces"):
            self.endpoint += "/v1/traces"
        self.spans: queue.Queue = queue.Queue(maxsize=1000)
        if self.endpoint:
            threading.Thread(target=self._export, daemon=True).start()

    def span(self, method: str, path: str, code: int, start: float, end: float) -> None:
        if not self.endpoint:
            return
        span = {
            "traceId": secrets.token_hex(16),
            "spanId": secrets.token_hex(8),
            "name": f"{method} {route_of(path)}",
            "kind": 2,
            "startTimeUnixNano": str(int(start * 1e9)),
            "endTimeUnixNano": str(int(end * 1e9)),
            "attributes": [
                {"key": "http.request.method", "value": {"stringValue": method}},
                {"key": "url.path", "value": {"stringValue": path}},
                {"key": "http.response.status_code", "value": {"intValue": str(code)}},
            ],
            "status": {"code": 2 if code >= 500 else 1},
        }
        with contextlib.suppress(queue.Full):
            self.spans.put_nowait(span)

    def _export(self) -> None:
        while True:
            batch = [self.spans.get()]
            while not self.spans.empty() and len(batch) < 100:
                batch.append(self.spans.get_nowait())
            body = {
                "resourceSpans": [
                    {
                        "resource": {
                            "attributes": [
                                {
                                    "key": "service.name",
                                    "value": {"stringValue": "hardening-demo-app"},
                                }
                            ]
                        },
                        "scopeSpans": [{"scope": {"name": "hardening-demo-app"}, "spans": batch}],
                    }
                ]
            }
            request = urllib.request.Request(
                self.endpoint,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with contextlib.suppress(OSError):
                urllib.request.urlopen(request, timeout=3).close()


def database_ok(url: str) -> bool:
    """``SELECT 1`` through ``psql`` on ``url``; the password goes through PGPASSWORD."""
    if not url:
        return False
    parts = urllib.parse.urlsplit(url)
    env = dict(os.environ, PGCONNECT_TIMEOUT="3")
    if parts.password:
        env["PGPASSWORD"] = urllib.parse.unquote(parts.password)
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port:
        netloc += f":{parts.port}"
    dsn = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    try:
        done = subprocess.run(
            ["psql", "-XAtq", dsn],
            input="SELECT 1;\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == "1"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JwtKeyring:
    """HS256 keys by kid from JWT_KEYS_FILE (or the single JWT_SECRET), reloaded on change."""

    def __init__(self, path: str, secret: bytes) -> None:
        self.path, self.secret = path, secret
        self._stamp: tuple[int, int] | None = None
        self.current, self.keys = "", {}

    def _load(self) -> None:
        stat = os.stat(self.path)
        if (stat.st_mtime_ns, stat.st_ino) != self._stamp:
            document = json.loads(Path(self.path).read_text())
            self.keys = {kid: key.encode() for kid, key in document["keys"].items()}
            self.current, self._stamp = document["current"], (stat.st_mtime_ns, stat.st_ino)

    def sign(self, claims: dict) -> str:
        if not self.path:  # legacy: payload.hmac with JWT_SECRET
            payload = _b64url(f"{claims['sub']}:{claims['exp']}".encode())
            mac = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()
            return f"{payload}.{mac}"
        self._load()
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": self.current}).encode())
        body = _b64url(json.dumps(claims, sort_keys=True).encode())
        mac = hmac.digest(self.keys[self.current], f"{header}.{body}".encode(), "sha256")
        return f"{header}.{body}.{_b64url(mac)}"

    def verify(self, token: str) -> dict | None:
        """The claims of a valid, unexpired token signed with a listed key; else None."""
        try:
            if not self.path:
                payload, mac = token.split(".")
                expected = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()
                sub, exp = _unb64url(payload).decode().rsplit(":", 1)
                claims, good = {"sub": sub, "exp": int(exp)}, hmac.compare_digest(mac, expected)
            else:
                self._load()
                header, body, mac = token.split(".")
                key = self.keys.get(json.loads(_unb64url(header))["kid"])
                expected = hmac.digest(key or b"", f"{header}.{body}".encode(), "sha256")
                claims = json.loads(_unb64url(body))
                good = key is not None and hmac.compare_digest(_unb64url(mac), expected)
        except (ValueError, KeyError, TypeError, OSError):
            return None
        return claims if good and int(claims.get("exp", 0)) > time.time() else None


class App:
    """Configuration and state shared by all request handlers."""

    def __init__(self, environ: dict[str, str]) -> None:
        self.database_url = environ.get("DATABASE_URL", "")
        self.jwt_secret = environ.get("JWT_SECRET", "").encode()
        self.keyring = JwtKeyring(environ.get("JWT_KEYS_FILE", ""), self.jwt_secret)
        self.static_dir = Path(environ.get("APP_STATIC_DIR", "/srv/hardening-demo-app/static"))
        self.max_upload = int(environ.get("APP_MAX_UPLOAD_BYTES", str(10 * 1024 * 1024)))
        self.metrics = Metrics(int(environ.get("APP_RATE_LIMIT_PER_SECOND") or 10))
        self.tracer = Tracer(environ.get("OTLP_ENDPOINT", ""))
        self.items: list[dict] = []
        self.lock = threading.Lock()
        self._db_checked = (0.0, False)

    def db_status(self) -> str:
        """``ok`` or ``error``, cached for 5 seconds so health checks stay cheap."""
        checked_at, healthy = self._db_checked
        if time.monotonic() - checked_at > 5:
            healthy = database_ok(self.database_url)
            self._db_checked = (time.monotonic(), healthy)
        return "ok" if healthy else "error"

    def session_token(self, user: str) -> str:
        return self.keyring.sign({"sub": user, "exp": int(time.time()) + SESSION_SECONDS})


class Handler(BaseHTTPRequestHandler):
    """One HTTP request (or a WebSocket connection after the upgrade)."""

    server_version = "hardening-demo-app"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    app: App

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, code: int, body: bytes, content_type: str, headers: dict | None = None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._code = code

    def _json(self, code: int, document, headers: dict | None = None) -> None:
        no_store = {"Cache-Control": "no-store"}
        self._send(
            code, json.dumps(document).encode(), "application/json", no_store | (headers or {})
        )

    def _body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.app.max_upload:
            return None
        return self.rfile.read(length)

    def _timed(self, method) -> None:
        start = time.time()
        self._code = 500
        path = urllib.parse.urlsplit(self.path).path
        try:
            method(path)
        except Exception:  # the documented error body, never a stack trace
            self.close_connection = True
            self._json(500, {"error": "internal error"})
        end = time.time()
        if path.startswith("/api/"):
            client = self.headers.get("X-Real-IP") or self.client_address[0]
            self.app.metrics.api_request(client, start)
        self.app.metrics.observe(route_of(path), self._code, end - start)
        self.app.tracer.span(self.command, path, self._code, start, end)

    def do_GET(self) -> None:
        self._timed(self._get)

    def do_HEAD(self) -> None:
        self._timed(self._get)

    def do_POST(self) -> None:
        self._timed(self._post)

    def _get(self, path: str) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if path == "/healthz":
            self._json(200, {"status": "ok", "db": self.app.db_status()})
        elif path == "/api/items":
            with self.app.lock:
                items = list(self.app.items)
            self._json(200, {"items": items})
        elif path == "/api/slow":
            delay = min(int((query.get("ms") or ["0"])[0] or 0), 10000)
            time.sleep(delay / 1000)
            self._json(200, {"slept_ms": delay})
        elif path == "/api/error":
            self._json(500, {"error": "this route fails on purpose (declared failing route)"})
        elif path == "/metrics":
            self._send(200, self.app.metrics.render().encode(), "text/plain; version=0.0.4")
        elif path == "/ws":
            self._websocket()
        elif path == "/api/session":
            self._session()
        else:
            self._static(path)

    def _post(self, path: str) -> None:
        body = self._body()
        if body is None:
            self.close_connection = True
            self._json(413, {"error": f"body larger than {self.app.max_upload} bytes"})
        elif path == "/api/items":
            try:
                item = json.loads(body or b"{}")
            except ValueError:
                self._json(400, {"error": "body is not JSON"})
                return
            with self.app.lock:
                self.app.items.append(item)
            self._json(201, {"item": item})
        elif path == "/upload":
            digest = hashlib.sha256(body).hexdigest()
            self._json(200, {"size": len(body), "sha256": digest, "max_bytes": self.app.max_upload})
        elif path == "/login":
            user = "demo"
            cookie = (
                f"session={self.app.session_token(user)}; Path=/; Secure; HttpOnly; "
                f"SameSite=Strict; Max-Age={SESSION_SECONDS}"
            )
            self._json(200, {"user": user}, {"Set-Cookie": cookie})
        else:
            self._json(404, {"error": "not found"})

    def _session(self) -> None:
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if not token:
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                token = value if name == "session" else token
        claims = self.app.keyring.verify(token) if token else None
        if claims is None:
            self._json(401, {"error": "invalid or expired token"})
        else:
            self._json(200, {"sub": claims.get("sub")})

    def _static(self, path: str) -> None:
        name = "index.html" if path == "/" else path.lstrip("/").removeprefix("static/")
        root = self.app.static_dir.resolve()
        target = (root / name).resolve()
        if root not in target.parents or not target.is_file():
            self._json(404, {"error": "not found"})
            return
        headers = {"Cache-Control": "no-cache"}
        if target.name == "sw.js":
            headers["Service-Worker-Allowed"] = "/"
        elif ".html" not in target.name and target.name.count(".") >= 2:
            headers["Cache-Control"] = "public, max-age=31536000, immutable"
        elif target.suffix == ".html":
            headers["Cache-Control"] = "no-store"
        content_type = CONTENT_TYPES.get(target.suffix, "application/octet-stream")
        self._send(200, target.read_bytes(), content_type, headers)

    def _websocket(self) -> None:
        key = self.headers.get("Sec-WebSocket-Key", "")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            self._json(400, {"error": "WebSocket upgrade required"})
            return
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", websocket_accept(key))
        self.end_headers()
        self.wfile.flush()
        self._code = 101
        self.close_connection = True
        self.app.metrics.websocket(True)
        self.connection.settimeout(60)
        code = None
        try:
            code = self._echo()
        except (OSError, ValueError, struct.error):
            pass
        finally:
            if code not in NORMAL_CLOSE:
                self.app.metrics.websocket(False)

    def _echo(self) -> int:
        """Echo frames until the client closes; its close code."""

        def read(size: int) -> bytes:
            data = self.rfile.read(size)
            if len(data) != size:
                raise ValueError("connection closed")
            return data

        while True:
            opcode, payload = read_frame(read)
            if opcode == 0x8:
                self.wfile.write(encode_frame(0x8, payload[:2]))
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            reply = {0x1: 0x1, 0x2: 0x2, 0x9: 0xA}.get(opcode)
            if reply is not None:
                self.wfile.write(encode_frame(reply, payload))
                self.wfile.flush()


def main() -> None:
    app = App(dict(os.environ))
    host, _, port = os.environ.get("APP_LISTEN", "127.0.0.1:8000").rpartition(":")
    handler = type("AppHandler", (Handler,), {"app": app})
    server_class = type(
        "AppServer",
        (ThreadingHTTPServer,),
        {
            "address_family": socket.AF_INET6 if ":" in host else socket.AF_INET,
            "request_queue_size": 128,
            "daemon_threads": True,
        },
    )
    server = server_class((host or "127.0.0.1", int(port)), handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
