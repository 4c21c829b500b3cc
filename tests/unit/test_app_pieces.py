"""The reference application's pieces: WebSocket accept key and frames, metrics text,
the bundle build, and the host-side env file program."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from hardening.facts.app import ENV_FILE
from hardening.operations.app import APP_SOURCE, build_bundle, env_spec, minify_js

spec = importlib.util.spec_from_file_location("demo_app", APP_SOURCE / "app.py")
demo_app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo_app)


def test_websocket_accept_key_is_the_rfc_6455_example() -> None:
    assert demo_app.websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_frames_round_trip_masked_and_long() -> None:
    for payload in (b"hi", b"x" * 300, b"y" * 70000):
        frame = demo_app.encode_frame(0x2, payload)
        data = iter([frame])
        buffer = bytearray(next(data))

        def read(size: int, buffer=buffer) -> bytes:
            chunk = bytes(buffer[:size])
            del buffer[:size]
            return chunk

        assert demo_app.read_frame(read) == (0x2, payload)
    mask = b"\x01\x02\x03\x04"
    masked = bytes([0x81, 0x82]) + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(b"ok"))
    buffer = bytearray(masked)
    assert demo_app.read_frame(lambda n: bytes([buffer.pop(0) for _ in range(n)])) == (1, b"ok")


def test_metrics_text_has_counters_and_a_histogram() -> None:
    metrics = demo_app.Metrics()
    metrics.observe("/api/items", 200, 0.02)
    metrics.observe("/api/error", 500, 3.0)
    metrics.websocket(True)
    metrics.websocket(False)
    text = metrics.render()
    assert 'http_requests_total{code="500",path="/api/error"} 1' in text
    assert 'http_request_duration_seconds_bucket{le="0.025"} 1' in text
    assert 'http_request_duration_seconds_bucket{le="+Inf"} 2' in text
    assert "websocket_disconnections_total 1" in text
    assert demo_app.route_of("/static/app.1234567890.js") == "static"
    assert demo_app.route_of("/nope") == "other"


def test_bundle_is_fingerprinted_minified_and_precaches_offline_page() -> None:
    built = build_bundle("https://app.example.net/api", "wss://app.example.net/ws")
    script = next(name for name in built if name.startswith("app."))
    assert script.count(".") == 2 and script in built["index.html"].decode()
    assert b"https://app.example.net/api" in built[script]
    assert b"//" not in minify_js("// comment\n  let a = 1;\n").encode()
    assert b'"/offline.html"' in built["sw.js"]
    assert build_bundle("https://a/api", "wss://a/ws").keys() != built.keys()


def _env(tmp_path: Path, mode: str, spec: str) -> list[str]:
    import getpass

    done = subprocess.run(
        [sys.executable, "-c", ENV_FILE, mode, str(tmp_path / "env"), getpass.getuser(), spec],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_env_file_program_generates_secrets_once_and_never_prints_them(tmp_path: Path) -> None:
    spec = env_spec(
        {"API_BASE_URL": "https://app.example.net/api"},
        database_url="postgresql://app:@PASSWORD@@127.0.0.1:6432/postgres",
    )
    assert _env(tmp_path, "check", spec) == ["#file", "API_BASE_URL", "DATABASE_URL", "JWT_SECRET"]
    _env(tmp_path, "write", spec)
    text = (tmp_path / "env").read_text()
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert len(values["JWT_SECRET"]) == 48 and values["JWT_SECRET"].isalnum()
    assert (tmp_path / "env").stat().st_mode & 0o777 == 0o600
    assert _env(tmp_path, "check", spec) == []
    (tmp_path / "env").write_text(text.replace(values["JWT_SECRET"], "changeme"))
    assert _env(tmp_path, "check", spec) == ["JWT_SECRET"]
