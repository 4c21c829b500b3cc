"""nginx facts: the effective configuration (``nginx -T``) and HTTP probes run on the host.
Installed as ``hardening.facts.nginx``."""

from __future__ import annotations

import re
import shlex

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

_TOKEN = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|#[^\n]*|[{};]|[^\s{};\"'#]+")
_FILE_MARK = re.compile(r"^# configuration file (\S+):$")


def parse_nginx_config(text: str) -> list[dict]:
    """Directives of ``nginx -T`` output as ``{"file", "context", "name", "args"}`` dicts.

    ``context`` is the enclosing blocks within the directive's file, outermost first, e.g.
    ``["server", "location /api/"]`` (each file marker of ``nginx -T`` resets it).
    """
    directives: list[dict] = []
    current_file, stack, words = "", [], []
    for line in text.splitlines():
        mark = _FILE_MARK.match(line.strip())
        if mark:
            current_file, stack, words = mark.group(1), [], []
            continue
        for token in _TOKEN.findall(line):
            if token.startswith("#"):
                break
            if token == "{":
                stack.append(" ".join(words))
                words = []
            elif token == "}":
                stack = stack[:-1]
                words = []
            elif token == ";":
                if words:
                    directives.append(
                        {
                            "file": current_file,
                            "context": list(stack),
                            "name": words[0],
                            "args": [w.strip("\"'") for w in words[1:]],
                        }
                    )
                words = []
            else:
                words.append(token)
    return directives


class NginxConfig(FactBase):
    """
    The effective nginx configuration as ``nginx -T`` prints it, and the ModSecurity
    rules files it names (engine mode and CRS paranoia level).

    .. code:: python

        {"installed": True, "valid": True,
         "files": ["/etc/nginx/nginx.conf", "/etc/nginx/sites-enabled/hardening"],
         "directives": [{"file": "/etc/nginx/sites-enabled/hardening",
                         "context": ["server", "location /api/"],
                         "name": "limit_req", "args": ["zone=api", "burst=20", "nodelay"]}],
         "modsecurity": {"/etc/nginx/modsecurity/hardening.conf":
                         {"engine": "On", "paranoia_level": 1, "crs": True}}}
    """

    @staticmethod
    def default() -> dict:
        return {
            "installed": False,
            "valid": False,
            "files": [],
            "directives": [],
            "modsecurity": {},
        }

    def command(self) -> StringCommand:
        return StringCommand(
            "if ! command -v nginx >/dev/null 2>&1; then echo '#absent'; exit 0; fi;",
            "out=$(nginx -T 2>/dev/null) && echo '#valid';",
            "printf '%s\\n' \"$out\";",
            'for f in $(printf \'%s\\n\' "$out" | awk \'$1=="modsecurity_rules_file"'
            ' {sub(/;$/, "", $2); print $2}\' | sort -u); do',
            'echo "#modsecurity $f";',
            "grep -hiE '^[[:space:]]*(SecRuleEngine|SecAction.*paranoia_level|Include)' \"$f\""
            " 2>/dev/null | sed 's/^/#ms /';",
            "done",
        )

    def process(self, output: list[str]) -> dict:
        if "#absent" in output:
            return self.default()
        config_lines, modsecurity, current = [], {}, None
        for line in output:
            if line.startswith("#modsecurity "):
                current = line.split(" ", 1)[1]
                modsecurity[current] = {"engine": "", "paranoia_level": 0, "crs": False}
            elif line.startswith("#ms ") and current:
                _modsecurity_line(modsecurity[current], line[4:].strip())
            elif line != "#valid":
                config_lines.append(line)
        directives = parse_nginx_config("\n".join(config_lines))
        files = [m.group(1) for m in map(_FILE_MARK.match, config_lines) if m]
        return {
            "installed": True,
            "valid": "#valid" in output,
            "files": files,
            "directives": directives,
            "modsecurity": modsecurity,
        }


def _modsecurity_line(state: dict, line: str) -> None:
    words = line.split()
    if words[0].lower() == "secruleengine" and len(words) > 1:
        state["engine"] = words[1]
    elif words[0].lower() == "include" and "modsecurity-crs" in line:
        state["crs"] = True
    level = re.search(r"tx\.paranoia_level=(\d)", line)
    if level:
        state["paranoia_level"] = int(level.group(1))


#: The bounded requests ``WebProbe`` sends, in order: (key, curl arguments after the URL base).
ATTACKS: dict[str, str] = {
    "sqli": "/?id=1%27%20OR%20%271%27%3D%271",
    "xss": "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "traversal": "/?file=..%2F..%2F..%2F..%2Fetc%2Fpasswd",
}
FOREIGN_ORIGIN = "https://foreign.invalid"
#: A WebSocket upgrade request printing ``HTTP/1.1 <status>`` (101 when upgraded); ``{url}``.
WEBSOCKET_CURL = (
    "curl -s -m 2 --http1.1 -o /dev/null -w 'HTTP/1.1 %{{http_code}}\\n' -H 'Connection: Upgrade'"
    " -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'"
    " -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' {url}"
)


class WebProbe(FactBase):
    """
    Behaviour of the web tier seen by curl on the host itself (bounded: every request
    times out after 5 s; the rate-limit burst sends ``flood`` requests once, last).

    .. code:: python

        {"reachable": True,
         "asset": {"path": "/static/app.0123abcd.js", "status": 200, "content_encoding": "gzip",
                   "cache_control": "public, max-age=31536000, immutable"},
         "html": {"status": 200, "cache_control": "no-store",
                  "headers": {"x-content-type-options": "nosniff", ...}},
         "api": {"status": 200, "cache_control": "no-store", "second_cache_status": "HIT"},
         "cors_allowed": {"status": 204, "allow_origin": "https://app.example.net"},
         "cors_foreign": {"status": 204, "allow_origin": ""},
         "waf": {"normal": 200, "sqli": 403, "xss": 403, "traversal": 403},
         "websocket": 101,
         "flood": {"sent": 30, "429": 7}}
    """

    @staticmethod
    def default() -> dict:
        return parse_probe([])

    def command(
        self,
        origin: str = "",
        flood: int = 30,
        static_root: str = "/srv/hardening-demo-app/static",
        base: str = "http://127.0.0.1",
    ) -> StringCommand:
        head = "curl -s -m 5 -o /dev/null -D - -H 'Accept-Encoding: gzip'"
        parts = [
            "if ! command -v curl >/dev/null 2>&1; then echo '#absent'; exit 0; fi;",
            f"B={shlex.quote(base)}; O={shlex.quote(origin or 'https://none.invalid')};"
            f" N={int(flood)}; A=$(ls",
            QuoteString(static_root),
            "2>/dev/null | grep -E '[.-][0-9a-f]{8,}[.](js|css)$' | head -1);",
            f'h() {{ echo "#probe $1 $2"; shift 2; {head} "$@" | tr -d \'\\r\'; }};',
            '[ -n "$A" ] && h asset "/static/$A" "$B/static/$A";',
            'h html / "$B/";',
            'h api /api/items "$B/api/items";',
            'h api2 /api/items "$B/api/items";',
            'h cors_allowed /api/items -X OPTIONS -H "Origin: $O"'
            " -H 'Access-Control-Request-Method: GET' \"$B/api/items\";",
            f"h cors_foreign /api/items -X OPTIONS -H 'Origin: {FOREIGN_ORIGIN}'"
            " -H 'Access-Control-Request-Method: GET' \"$B/api/items\";",
            'h normal / "$B/";',
            *[f'h {key} {path.split("?")[0]} "$B{path}";' for key, path in ATTACKS.items()],
            'echo "#probe websocket /ws";',
            WEBSOCKET_CURL.format(url='"$B/ws"') + ";",
            'echo "#flood $N";',
            'urls=$(for i in $(seq "$N"); do echo "-o /dev/null $B/api/items"; done);',
            "curl -s -m 10 -w '%{http_code}\\n' $urls | sort | uniq -c | sed 's/^ */#code /'",
        ]
        return StringCommand(*parts)

    def process(self, output: list[str]) -> dict:
        if "#absent" in output:
            return self.default()
        return parse_probe(output)


def parse_probe(output: list[str]) -> dict:
    """``WebProbe`` output lines -> the documented dict."""
    responses: dict[str, dict] = {}
    flood = {"sent": 0, "429": 0}
    current: dict | None = None
    for line in output:
        if line.startswith("#probe "):
            _, key, path = (line.split(" ", 2) + [""])[:3]
            current = responses[key] = {"path": path, "status": 0, "headers": {}}
        elif line.startswith("#flood "):
            flood["sent"] = int(line.split()[1])
            current = None
        elif line.startswith("#code "):
            count, code = line.split()[1:3]
            flood[code] = flood.get(code, 0) + int(count)
        elif current is not None and line.startswith("HTTP/"):
            words = line.split()
            current["status"] = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
            current["headers"] = {}
        elif current is not None and ":" in line:
            name, value = line.split(":", 1)
            current["headers"][name.strip().lower()] = value.strip()

    def get(key: str) -> dict:
        return responses.get(key, {"path": "", "status": 0, "headers": {}})

    def summary(key: str) -> dict:
        entry = get(key)
        headers = entry["headers"]
        return {
            "path": entry["path"],
            "status": entry["status"],
            "content_encoding": headers.get("content-encoding", ""),
            "cache_control": headers.get("cache-control", ""),
            "allow_origin": headers.get("access-control-allow-origin", ""),
            "cache_status": headers.get("x-cache-status", ""),
            "headers": headers,
        }

    return {
        "reachable": any(entry["status"] for entry in responses.values()),
        "asset": summary("asset"),
        "html": summary("html"),
        "api": summary("api"),
        "api_again": summary("api2"),
        "cors_allowed": summary("cors_allowed"),
        "cors_foreign": summary("cors_foreign"),
        "waf": {key: get(key)["status"] for key in ("normal", *ATTACKS)},
        "websocket": get("websocket")["status"],
        "flood": flood,
    }
