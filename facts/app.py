"""Facts about a web application, observed by bounded probes run ON the host.

Installed as ``hardening.facts.app``. The probes talk to the application at its local
base URL (``app_base_url``, e.g. ``http://127.0.0.1:8000``) with short timeouts and a
bounded number of requests, so audits of real fleets can run them too. Secret values
(JWT secret, session cookie, database password) never leave the host: only their
shapes, names and verdicts do.
"""

# ruff: noqa: E501 -- the host-side programs embedded below keep their long lines

from __future__ import annotations

import inspect
import json

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

from hardening import wsprobe

#: Host-side probe program; argv[1] is a JSON object of probe parameters. The WebSocket
#: round trip is :mod:`hardening.wsprobe`, inlined (shared with the deploy-day tool).
PROBE = (
    inspect.getsource(wsprobe)
    + r"""
import gzip, hashlib, json, os, re, subprocess, sys, threading, time
import urllib.error, urllib.parse, urllib.request
cfg = json.loads(sys.argv[1])
base = cfg["base_url"].rstrip("/")
out = {"deployed": False}

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout
    except Exception:
        return ""

def get(path, data=None, method=None, timeout=5):
    req = urllib.request.Request(base + path, data=data, method=method)
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read(), time.monotonic() - start, r.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read(), time.monotonic() - start, []
    except Exception as e:
        return 0, {}, str(e).encode()[:200], time.monotonic() - start, []

def lower(headers):
    return {k.lower(): v for k, v in headers.items()}

show = sh("systemctl show -p ActiveState -p User -p EnvironmentFiles " + cfg["service"] + " 2>/dev/null")
unit = dict(line.split("=", 1) for line in show.splitlines() if "=" in line)
out["service"] = {"active": unit.get("ActiveState", "") == "active", "user": unit.get("User", ""),
                  "env_files": [w.split(" ")[0] for w in unit.get("EnvironmentFiles", "").split(";") if w.strip()]}
status, headers, body, _, _ = get("/healthz")
out["healthz"] = {"status": status}
try:
    out["healthz"]["body"] = json.loads(body) if status else {}
except ValueError:
    out["healthz"]["body"] = {}
out["deployed"] = status == 200
nginx = sh("nginx -T 2>/dev/null")
sizes = re.findall(r"^\s*client_max_body_size\s+(\S+);", nginx, re.M)
out["nginx"] = {"present": bool(nginx), "client_max_body_size": sizes[-1] if sizes else None,
                "proxies_app": urllib.parse.urlsplit(base).netloc in nginx}
static = cfg["static_dir"]
files = []
for root, _, names in os.walk(static):
    for name in sorted(names):
        full = os.path.join(root, name)
        data = open(full, "rb").read()
        rel = os.path.relpath(full, static)
        entry = {"name": rel, "size": len(data), "gzip_size": len(gzip.compress(data, 9)),
                 "fingerprinted": bool(re.search(r"\.[0-9a-f]{8,}\.(js|css|mjs)$", name))}
        if name.endswith((".js", ".mjs", ".css", ".html", ".json")):
            text = data.decode("utf-8", "replace")
            entry["sourcemap"] = "sourceMappingURL" in text
            entry["urls"] = sorted(set(m.rstrip(".,;") for m in re.findall(r"\b(?:https?|wss?)://[^\s\"'`<>)]+", text)
                                       if "www.w3.org" not in m))
            entry["comment_lines"] = sum(1 for l in text.splitlines() if l.strip().startswith("//"))
        magic = data[:12]
        fmt = ("png" if magic.startswith(b"\x89PNG") else "jpeg" if magic.startswith(b"\xff\xd8")
               else "gif" if magic.startswith(b"GIF8") else "webp" if magic[8:12] == b"WEBP"
               else "avif" if magic[4:12] in (b"ftypavif", b"ftypavis") else
               "svg" if name.endswith(".svg") else "")
        if fmt:
            entry["image"] = fmt
        files.append(entry)
out["bundle"] = {"dir": static, "exists": os.path.isdir(static), "files": files}
if out["deployed"]:
    s, h, b, _, _ = get("/")
    out["index"] = {"status": s, "registers_sw": b"serviceWorker.register" in b}
    s, h, b, _, _ = get(cfg["sw_path"])
    h = lower(h)
    text = b.decode("utf-8", "replace")
    out["sw"] = {"status": s, "content_type": h.get("content-type", ""),
                 "cache_control": h.get("cache-control", ""), "allowed": h.get("service-worker-allowed", ""),
                 "offline_precached": ('"%s"' % cfg["offline_route"]) in text,
                 "fetch_handler": "addEventListener(\"fetch\"" in text}
    s, _, b, _, _ = get(cfg["offline_route"])
    out["sw"]["offline_status"] = s
    ws = ws_roundtrip("ws://%s/ws" % urllib.parse.urlsplit(base).netloc, "probe-" + os.urandom(4).hex())
    out["websocket"] = ws
    payload = os.urandom(cfg["upload_bytes"])
    s, _, b, _, _ = get("/upload", data=payload, method="POST", timeout=15)
    try:
        answer = json.loads(b)
    except ValueError:
        answer = {}
    out["upload"] = {"status": s, "sent": len(payload), "size": answer.get("size"),
                     "sha256_ok": answer.get("sha256") == hashlib.sha256(payload).hexdigest(),
                     "max_bytes": answer.get("max_bytes")}
    s, h, b, _, _ = get(cfg["error_route"])
    text = b.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    out["error_route"] = {"status": s, "json": isinstance(doc, dict), "has_error": isinstance(doc, dict) and "error" in doc,
                          "traceback": "Traceback" in text or 'File "' in text}
    s, h, b, _, cookies = get("/login", data=b"{}", method="POST")
    jar = {}
    for c in cookies:
        name = c.split("=", 1)[0].strip()
        attrs = [a.strip() for a in c.split(";")[1:]]
        jar[name] = {"flags": sorted(a.split("=")[0].lower() for a in attrs if a),
                     "samesite": next((a.split("=", 1)[1] for a in attrs if a.lower().startswith("samesite=")), ""),
                     "max_age": next((int(a.split("=", 1)[1]) for a in attrs if a.lower().startswith("max-age=")), None)}
    out["login"] = {"status": s, "cookies": jar}
    latencies, errors, lock = [], [0], threading.Lock()
    def client():
        for _ in range(cfg["load_requests"]):
            s, _, _, took, _ = get(cfg["load_path"], timeout=10)
            with lock:
                latencies.append(took)
                if not 200 <= s < 400:
                    errors[0] += 1
    start = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(cfg["load_clients"])]
    [t.start() for t in threads]
    [t.join() for t in threads]
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)
    out["load"] = {"clients": cfg["load_clients"], "requests": len(latencies), "errors": errors[0],
                   "seconds": round(time.monotonic() - start, 2),
                   "p50_ms": pick(0.5), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}
print(json.dumps(out))
"""
)


class AppProbe(FactBase):
    """
    The application as seen from the host: service, health, bundle, bounded probes.

    .. code:: python

        {
            "deployed": True,
            "service": {"active": True, "user": "hardening-demo-app",
                        "env_files": ["/etc/hardening-demo-app/env"]},
            "healthz": {"status": 200, "body": {"status": "ok", "db": "ok"}},
            "nginx": {"present": True, "client_max_body_size": "10m", "proxies_app": False},
            "bundle": {"dir": "/srv/hardening-demo-app/static", "exists": True, "files": [
                {"name": "app.3f2a9c01d2.js", "size": 1200, "gzip_size": 600,
                 "fingerprinted": True, "sourcemap": False, "comment_lines": 0,
                 "urls": ["https://app.example.net/api", "wss://app.example.net/ws"]},
                {"name": "images/logo.svg", "size": 240, "gzip_size": 180,
                 "fingerprinted": False, "image": "svg"}]},
            "index": {"status": 200, "registers_sw": True},
            "sw": {"status": 200, "content_type": "application/javascript",
                   "cache_control": "no-cache", "allowed": "/", "offline_precached": True,
                   "fetch_handler": True, "offline_status": 200},
            "websocket": {"ok": True, "status": 101, "accept_ok": True, "echo": True,
                          "round_trip_ms": 0.4},
            "upload": {"status": 200, "sent": 65536, "size": 65536, "sha256_ok": True,
                       "max_bytes": 10485760},
            "error_route": {"status": 500, "json": True, "has_error": True, "traceback": False},
            "login": {"status": 200, "cookies": {"session": {
                "flags": ["httponly", "max-age", "path", "samesite", "secure"],
                "samesite": "Strict", "max_age": 3600}}},
            "load": {"clients": 20, "requests": 200, "errors": 0, "seconds": 0.8,
                     "p50_ms": 3.1, "p95_ms": 9.8, "p99_ms": 14.0},
        }

    Without a running application only ``deployed`` (False), ``service``, ``healthz``,
    ``nginx`` and ``bundle`` are present. Cookie values are never reported.
    """

    default = dict

    def requires_command(self, **kwargs) -> str:
        return "python3"

    def command(
        self,
        base_url: str = "http://127.0.0.1:8000",
        service: str = "hardening-demo-app",
        static_dir: str = "/srv/hardening-demo-app/static",
        sw_path: str = "/sw.js",
        offline_route: str = "/offline.html",
        error_route: str = "/api/error",
        load_path: str = "/api/items",
        upload_bytes: int = 65536,
        load_clients: int = 20,
        load_requests: int = 10,
    ) -> StringCommand:
        params = {
            "base_url": base_url,
            "service": service,
            "static_dir": static_dir,
            "sw_path": sw_path,
            "offline_route": offline_route,
            "error_route": error_route,
            "load_path": load_path,
            "upload_bytes": min(int(upload_bytes), 64 * 1024 * 1024),
            "load_clients": min(int(load_clients), 200),
            "load_requests": min(int(load_requests), 100),
        }
        return StringCommand("python3 -c", QuoteString(PROBE), QuoteString(json.dumps(params)))

    def process(self, output: list[str]) -> dict:
        return json.loads(output[-1])


#: Host-side program that checks (``check``) or writes (``write``) an application's
#: environment file: plain values as given, the JWT secret and the database password
#: generated on the host when absent or weak. Prints only variable names.
ENV_FILE = r"""
import json, os, re, secrets, string, sys, urllib.parse
mode, path, user, spec = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
alphabet = string.ascii_letters + string.digits
gen = lambda n: "".join(secrets.choice(alphabet) for _ in range(n))
current = {}
try:
    for line in open(path, encoding="utf-8"):
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.rstrip("\n").split("=", 1)
            current[k.strip()] = v.strip()
except FileNotFoundError:
    pass
placeholders = set(spec["placeholders"])
wanted, drift = {}, []
for name, value in spec["plain"].items():
    wanted[name] = value
for name in spec["secrets"]:
    value = current.get(name, "")
    weak = (len(value) < 32 or not value.isalnum() or value.lower() in placeholders
            or "changeme" in value.lower())
    wanted[name] = gen(48) if weak else value
url_var, template = spec["database_url"]
if url_var:
    parts = urllib.parse.urlsplit(current.get(url_var, ""))
    password = parts.password if parts.password and parts.password.isalnum() and len(parts.password) >= 24 else gen(32)
    wanted[url_var] = template.replace("@PASSWORD@", password)
for name, value in wanted.items():
    if current.get(name) != value:
        drift.append(name)
for name in current:
    if name not in wanted:
        drift.append(name)
try:
    st = os.stat(path)
    import pwd
    if st.st_mode & 0o777 != 0o600 or pwd.getpwuid(st.st_uid).pw_name != user:
        drift.append("#mode")
except (FileNotFoundError, KeyError):
    drift.append("#file")
if mode == "write" and drift:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Managed by hardening (deploys/app.py); secrets generated on this host.\n")
        for name, value in wanted.items():
            handle.write(name + "=" + value + "\n")
    import pwd
    entry = pwd.getpwnam(user)
    os.chown(tmp, 0, entry.pw_gid)
    os.chown(tmp, entry.pw_uid, entry.pw_gid)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
print(json.dumps(sorted(set(drift))))
"""


class AppEnvFileDrift(FactBase):
    """
    Names of the variables of an application environment file that differ from what
    hardening wants (never their values); ``#mode`` for wrong mode/owner, ``#file`` when
    the file is missing.

    .. code:: python

        ["#file", "API_BASE_URL", "DATABASE_URL", "JWT_SECRET"]
    """

    default = list

    def requires_command(self, **kwargs) -> str:
        return "python3"

    def command(self, path: str, user: str, spec: str) -> StringCommand:
        return StringCommand(
            "python3 -c",
            QuoteString(ENV_FILE),
            "check",
            QuoteString(path),
            QuoteString(user),
            QuoteString(spec),
        )

    def process(self, output: list[str]) -> list[str]:
        return json.loads(output[-1])


class AppDatabaseLogin(FactBase):
    """
    Whether the application's PostgreSQL role exists and pgBouncer's userlist carries
    its current SCRAM verifier (compared on the host, never printed).

    .. code:: python

        {"postgres": True, "role": True, "userlist": True}
    """

    @staticmethod
    def default() -> dict:
        return {"postgres": False, "role": False, "userlist": False}

    def command(self, role: str, userlist: str = "/etc/pgbouncer/userlist.txt") -> StringCommand:
        if not role.replace("_", "").isalnum():
            raise ValueError(f"role name {role!r}: letters, digits and _ only")
        return StringCommand(
            "if ! command -v psql >/dev/null || ! systemctl is-active -q postgresql;"
            " then echo '#absent'; exit 0; fi;",
            "v=$(runuser -u postgres -- psql -XAtc",
            QuoteString(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"),
            "2>/dev/null);",
            'echo role:$([ -n "$v" ] && echo yes);',
            f'echo userlist:$([ -n "$v" ] && grep -qxF "\\"{role}\\" \\"$v\\""',
            QuoteString(userlist),
            "2>/dev/null && echo yes)",
        )

    def process(self, output: list[str]) -> dict:
        if "#absent" in output:
            return self.default()
        answers = dict(line.split(":", 1) for line in output if ":" in line)
        return {
            "postgres": True,
            "role": answers.get("role") == "yes",
            "userlist": answers.get("userlist") == "yes",
        }
