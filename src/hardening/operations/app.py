"""Operations for a web application service: the reference app's code, static bundle,
environment file (secrets generated on the host), database login and systemd unit.

The reference application lives in ``examples/app/`` of the hardening repository.
"""

# ruff: noqa: E501 -- the host-side programs embedded below keep their long lines

from __future__ import annotations

import hashlib
import json
import re
from io import BytesIO, StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import FindFiles, Sha1File
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import files, systemd

from hardening.facts.app import ENV_FILE, AppDatabaseLogin, AppEnvFileDrift
from hardening.facts.envfile import PLACEHOLDERS
from hardening.operations._render import render

#: Where the reference application's sources are (``examples/app`` of the repository).
APP_SOURCE = Path(__file__).resolve().parents[3] / "examples" / "app"


def minify_js(text: str) -> str:
    """Drop ``//`` comment lines, indentation and blank lines (enough for the demo bundle)."""
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


def build_bundle(
    api_base: str, ws_url: str, offline_route: str = "/offline.html", source: Path = APP_SOURCE
) -> dict[str, bytes]:
    """
    Build the production bundle: ``app.<hash>.js`` (minified, fingerprinted), ``index.html``
    referencing it, ``sw.js`` precaching the shell and the offline page, images as they are.

    **Example:**

    .. code:: python

        files = build_bundle("https://app.example.net/api", "wss://app.example.net/ws")
        sorted(files)  # ['app.1a2b3c4d5e.js', 'images/logo.svg', 'index.html', ...]
    """
    static = source / "static"
    script = minify_js(
        (static / "app.js")
        .read_text()
        .replace("{{api_base}}", api_base)
        .replace("{{ws_url}}", ws_url)
    ).encode()
    digest = hashlib.sha256(script).hexdigest()[:10]
    script_name = f"app.{digest}.js"
    built: dict[str, bytes] = {script_name: script}
    built["index.html"] = (
        (static / "index.html").read_text().replace("{{app.js}}", script_name).encode()
    )
    built["offline.html"] = (static / "offline.html").read_bytes()
    for image in sorted((static / "images").iterdir()):
        built[f"images/{image.name}"] = image.read_bytes()
    precache = ["/", offline_route, f"/static/{script_name}"] + [
        f"/static/{name}" for name in built if name.startswith("images/")
    ]
    worker = (
        (static / "sw.js")
        .read_text()
        .replace("{{version}}", digest)
        .replace("{{precache}}", json.dumps(precache))
        .replace("{{offline_route}}", offline_route)
    )
    built["sw.js"] = minify_js(worker).encode()
    return built


@operation()
def bundle(
    static_dir: str,
    api_base: str,
    ws_url: str,
    offline_route: str = "/offline.html",
    user: str = "root",
):
    """
    Install the built static bundle in ``static_dir``; remove fingerprinted scripts of
    earlier builds.

    + static_dir: where the web server and the app serve static files from
    + api_base / ws_url: production API and WebSocket URLs compiled into the bundle
    + offline_route: page the service worker precaches and serves when offline

    **Example:**

    .. code:: python

        app.bundle(name="Static bundle", static_dir="/srv/hardening-demo-app/static",
                   api_base="https://app.example.net/api", ws_url="wss://app.example.net/ws")
    """
    built = build_bundle(api_base, ws_url, offline_route)
    yield from files.directory._inner(path=f"{static_dir}/images", mode="0755", present=True)
    for name, content in built.items():
        yield from files.put._inner(
            src=BytesIO(content), dest=f"{static_dir}/{name}", user=user, group=user, mode="0644"
        )
    stale = [
        path
        for path in host.get_fact(FindFiles, path=static_dir, quote_path=True) or []
        if re.fullmatch(r"app\.[0-9a-f]{10}\.js", Path(path).name) and Path(path).name not in built
    ]
    for path in stale:
        yield from files.file._inner(path=path, present=False)


def env_spec(
    plain: dict[str, str],
    generated: tuple[str, ...] = ("JWT_SECRET",),
    database_url_var: str = "DATABASE_URL",
    database_url: str = "",
) -> str:
    """
    What an environment file must hold, as the JSON ``spec`` of :func:`env_file` and of the
    ``AppEnvFileDrift`` fact: ``plain`` values as given; each ``generated`` secret (48
    alphanumeric characters) and the database password generated on the host when absent,
    a placeholder or weak; ``database_url`` is a DSN template with ``@PASSWORD@``.
    """
    return json.dumps(
        {
            "plain": plain,
            "secrets": list(generated),
            "database_url": [database_url_var if database_url else "", database_url],
            "placeholders": list(PLACEHOLDERS),
        },
        sort_keys=True,
    )


@operation()
def env_file(path: str, user: str, spec: str):
    """
    The application's environment file, mode 0600, owned by ``user``, as ``spec`` (see
    :func:`env_spec`) says. Secrets (SEC-02: the JWT signing secret; the database password)
    are generated ON THE HOST and kept once strong; values are never printed nor put on a
    command line.

    **Example:**

    .. code:: python

        app.env_file(name="App env", path="/etc/myapp/env", user="myapp",
                     spec=env_spec({"API_BASE_URL": "https://app.example.net/api"},
                                   database_url="postgresql://myapp:@PASSWORD@@db:6432/app"))
    """
    drift = host.get_fact(AppEnvFileDrift, path=path, user=user, spec=spec)
    if not drift:
        host.noop(f"{path} is up to date (secrets present and strong)")
        return
    yield from files.directory._inner(path=str(Path(path).parent), mode="0755", present=True)
    yield StringCommand(
        "python3 -c",
        QuoteString(ENV_FILE),
        "write",
        QuoteString(path),
        QuoteString(user),
        QuoteString(spec),
    )


_DATABASE_LOGIN = r"""
import os, re, subprocess, sys, urllib.parse
env_file, var, role, userlist = sys.argv[1:5]
url = next(l.split("=", 1)[1].strip() for l in open(env_file) if l.startswith(var + "="))
password = urllib.parse.urlsplit(url).password
assert password and password.isalnum(), "no alphanumeric password in " + var
psql = ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1"]
exists = subprocess.run(psql + ["-c", "SELECT 1 FROM pg_roles WHERE rolname = '%s'" % role],
                        capture_output=True, text=True, check=True).stdout.strip()
verb = "ALTER" if exists else "CREATE"
subprocess.run(psql, input="%s ROLE %s LOGIN PASSWORD '%s';\n" % (verb, role, password),
               text=True, check=True, capture_output=True)
verifier = subprocess.run(psql + ["-c", "SELECT rolpassword FROM pg_authid WHERE rolname = '%s'" % role],
                          capture_output=True, text=True, check=True).stdout.strip()
try:
    lines = [l for l in open(userlist).read().splitlines() if not l.startswith('"%s" ' % role)]
except FileNotFoundError:
    lines = []
lines.append('"%s" "%s"' % (role, verifier))
with open(userlist + ".tmp", "w") as handle:
    handle.write("\n".join(lines) + "\n")
os.chmod(userlist + ".tmp", 0o640)
subprocess.run(["chown", "postgres:postgres", userlist + ".tmp"], check=True)
os.replace(userlist + ".tmp", userlist)
subprocess.run(["systemctl", "try-reload-or-restart", "pgbouncer"], check=False)
print("database login of " + role + " updated")
"""


@operation()
def database_login(
    role: str,
    env_file: str,
    database_url_var: str = "DATABASE_URL",
    userlist: str = "/etc/pgbouncer/userlist.txt",
):
    """
    A PostgreSQL login role for the application with the password from its environment
    file, and its SCRAM verifier in pgBouncer's ``auth_file`` (only where PostgreSQL runs on
    the host). The password travels through files and stdin only.

    **Example:**

    .. code:: python

        app.database_login(name="App DB login", role="myapp", env_file="/etc/myapp/env")
    """
    state = host.get_fact(AppDatabaseLogin, role=role, userlist=userlist)
    if not state["postgres"]:
        host.noop("no local PostgreSQL: the DSN's server manages the app's login")
        return
    if state["role"] and state["userlist"]:
        host.noop(f"role {role} exists and pgBouncer knows its verifier")
        return
    yield StringCommand(
        "python3 -c",
        QuoteString(_DATABASE_LOGIN),
        QuoteString(env_file),
        QuoteString(database_url_var),
        QuoteString(role),
        QuoteString(userlist),
    )


@operation()
def service(
    unit: str,
    user: str,
    env_file: str,
    listen: str = "127.0.0.1:8000",
    install_dir: str = "/opt/hardening-demo-app",
    source: str = "",
    restart: bool = False,
):
    """
    Install the application program in ``install_dir`` and run it as ``user`` from a systemd
    unit with ``EnvironmentFile=`` and ``Restart=on-failure``; restart it when the program,
    the unit changed or ``restart`` says so (e.g. its environment file is being rewritten).

    **Example:**

    .. code:: python

        app.service(name="App service", unit="hardening-demo-app",
                    user="hardening-demo-app", env_file="/etc/hardening-demo-app/env")
    """
    program = Path(source) if source else APP_SOURCE / "app.py"
    code = program.read_text()
    target = f"{install_dir}/app.py"
    unit_text = render(
        "hardening-demo-app.service.j2",
        description=f"{unit} (managed by hardening)",
        user=user,
        env_file=env_file,
        listen=listen,
        program=target,
    )
    unit_path = f"/etc/systemd/system/{unit}.service"
    changed = _differs(target, code) or _differs(unit_path, unit_text)
    running = host.get_fact(SystemdStatus).get(f"{unit}.service")
    yield from files.directory._inner(path=install_dir, mode="0755", present=True)
    yield from files.put._inner(src=StringIO(code), dest=target, mode="0644")
    yield from files.put._inner(src=StringIO(unit_text), dest=unit_path, mode="0644")
    yield from systemd.service._inner(
        unit,
        running=True,
        enabled=True,
        daemon_reload=changed,
        restarted=bool(running) and (changed or restart),
    )


def _differs(path: str, text: str) -> bool:
    return host.get_fact(Sha1File, path=path) != hashlib.sha1(text.encode()).hexdigest()
