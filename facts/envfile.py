"""Facts about an application's environment file, without reading values off the host.

Installed as ``hardening.facts.envfile``. The value of every variable stays on
the host: a small Python program there reports only its shape (length,
character classes, whether it is a known placeholder, and for URLs the scheme,
host, port and path — never the user info).
"""

from __future__ import annotations

import json

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

#: Values that are documentation examples, never real secrets (compared lower-cased).
PLACEHOLDERS = (
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "your-secret",
    "your_jwt_secret",
    "your-256-bit-secret",
    "jwt_secret",
    "example",
    "password",
    "default",
    "test",
    "xxx",
)

_SUMMARISE = r"""
import json, sys, urllib.parse
placeholders = set(sys.argv[2].split(","))
out = {}
try:
    lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
except FileNotFoundError:
    print("#absent"); sys.exit(0)
for line in lines:
    line = line.strip()
    if not line or line.startswith("#") or "=" not in line:
        continue
    name, value = line.split("=", 1)
    name = name.strip().removeprefix("export ").strip()
    value = value.strip().strip("'\"")
    info = {"length": len(value), "alnum": value.isalnum(),
            "alnum_count": sum(c.isalnum() for c in value),
            "placeholder": value.lower() in placeholders or "changeme" in value.lower()}
    if "://" in value:
        u = urllib.parse.urlsplit(value)
        info["url"] = {"scheme": u.scheme, "host": u.hostname or "", "port": u.port,
                       "path": u.path, "query": u.query.replace(u.password or "\0", "***")}
    out[name] = info
print(json.dumps(out))
"""


class EnvFileSummary(FactBase):
    """
    Shape of each variable in an environment file (``NAME=value`` lines).

    .. code:: python

        {
            "JWT_SECRET": {"length": 48, "alnum": True, "alnum_count": 48,
                           "placeholder": False},
            "DATABASE_URL": {"length": 61, "alnum": False, "alnum_count": 50,
                             "placeholder": False,
                             "url": {"scheme": "postgresql", "host": "127.0.0.1",
                                     "port": 6432, "path": "/app", "query": ""}},
        }

    Returns ``None`` when the file does not exist.
    """

    default = dict

    def requires_command(self, path: str) -> str:
        return "python3"

    def command(self, path: str) -> StringCommand:
        return StringCommand(
            "python3 -c",
            QuoteString(_SUMMARISE),
            QuoteString(path),
            QuoteString(",".join(PLACEHOLDERS)),
        )

    def process(self, output: list[str]) -> dict | None:
        if output == ["#absent"]:
            return None
        return json.loads(output[-1])
