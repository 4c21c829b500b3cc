"""WebSocket handshake and echo round trip, for programs that run ON a host (stdlib only).

One piece of code serves the application probe (``hardening.facts.app.AppProbe``, APP-03,
FE-03) and the deploy-day host tool (``hardening-deployday websocket``, DEP-06): both
ship this module's source (``inspect.getsource``) inlined into the program they send to
the host, and tests import it directly.

The file must stay self-contained (stdlib imports only, no ``from __future__``): its text
is pasted into the middle of other scripts.

**Example:**

    from hardening.wsprobe import ws_roundtrip

    ws_roundtrip("ws://127.0.0.1:8000/ws", "ping")
    # {"ok": True, "status": 101, "accept_ok": True, "echo": True, "round_trip_ms": 0.4,
    #  "detail": "handshake 101, echo round trip ok"}
"""

import base64
import hashlib
import os
import socket
import time
import urllib.parse

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_frame(text):
    """A masked client text frame (payload under 126 bytes)."""
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def _read_until(conn, data, done):
    """Receive into ``data`` until ``done(data)`` or the peer closes."""
    while not done(data):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _exchange(conn, parts, key, text, result):
    conn.sendall(
        (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = _read_until(conn, b"", lambda data: b"\r\n\r\n" in data)
    head, _, rest = head.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    words = line.split()
    result["status"] = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest())
    result["accept_ok"] = accept in head
    if result["status"] != 101 or not result["accept_ok"]:
        result["detail"] = f"handshake answered {line or 'nothing'}"
        return
    start = time.monotonic()
    conn.sendall(ws_frame(text))
    data = _read_until(conn, rest, lambda d: len(d) >= 2 and len(d) >= 2 + (d[1] & 0x7F))
    result["round_trip_ms"] = round((time.monotonic() - start) * 1000, 1)
    echoed = data[2 : 2 + (data[1] & 0x7F)].decode(errors="replace") if data else ""
    result["echo"] = echoed == text
    conn.sendall(bytes([0x88, 0x80]) + os.urandom(4))  # close frame
    result["ok"] = result["echo"]
    result["detail"] = (
        "handshake 101, echo round trip ok"
        if result["echo"]
        else f"handshake 101, echo answered {echoed[:40]!r}"
    )


def ws_roundtrip(url, text="hardening-probe", timeout=5):
    """Handshake with the WebSocket at ``url`` (ws://), send ``text``, expect it echoed.

    Returns ``{"ok", "status", "accept_ok", "echo", "round_trip_ms", "detail"}`` and
    ``"error"`` (the exception's class name) when the connection failed.
    """
    parts = urllib.parse.urlsplit(url)
    key = base64.b64encode(os.urandom(16)).decode()
    result = {"ok": False, "status": 0, "accept_ok": False, "echo": False, "round_trip_ms": None}
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout) as conn:
            _exchange(conn, parts, key, text, result)
    except OSError as error:
        result["error"] = type(error).__name__
        result["detail"] = f"no WebSocket at {url}: {error}"
    return result


def ws_echo(url, text="hardening-deployday-ping"):
    """(ok, detail) of a WebSocket handshake and an echo round trip."""
    result = ws_roundtrip(url, text)
    return result["ok"], result["detail"]
