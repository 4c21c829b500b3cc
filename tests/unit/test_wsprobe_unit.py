"""The shared WebSocket round trip (hardening.wsprobe) against a local echo server, and its
inlining into the two host-side programs that ship it."""

from __future__ import annotations

import base64
import hashlib
import socketserver
import threading

import pytest

from hardening import wsprobe
from hardening.facts.app import PROBE
from hardening.operations.deployday import INLINE_WSPROBE, tool_text


class Echo(socketserver.BaseRequestHandler):
    """A minimal WebSocket echo server: one handshake, one unmasked echo frame."""

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.request.recv(1024)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        accept = base64.b64encode(hashlib.sha1(key + wsprobe.WS_GUID.encode()).digest())
        self.request.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        frame = self.request.recv(1024)
        mask, payload = frame[2:6], frame[6 : 6 + (frame[1] & 0x7F)]
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.request.sendall(bytes([0x81, len(data)]) + data)


@pytest.fixture()
def echo_url():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"ws://127.0.0.1:{server.server_address[1]}/ws"
    server.shutdown()
    server.server_close()


def test_round_trip(echo_url: str) -> None:
    result = wsprobe.ws_roundtrip(echo_url, "ping")
    assert result["ok"] and result["status"] == 101 and result["accept_ok"] and result["echo"]
    assert result["detail"] == "handshake 101, echo round trip ok"
    assert wsprobe.ws_echo(echo_url) == (True, "handshake 101, echo round trip ok")


def test_nothing_listening() -> None:
    result = wsprobe.ws_roundtrip("ws://127.0.0.1:9/ws")
    assert not result["ok"] and result["error"] and "no WebSocket" in result["detail"]


def test_both_host_programs_ship_the_same_code() -> None:
    shared = "def ws_roundtrip(url"
    assert PROBE.count(shared) == 1 and tool_text().count(shared) == 1
    assert INLINE_WSPROBE not in tool_text()
    compile(PROBE, "probe", "exec")
    compile(tool_text(), "hardening-deployday", "exec")
