"""Facts of the generated documents (runbooks, policies, access matrix) and of access rights.

Installed as ``hardening.facts.docs``.
"""

from __future__ import annotations

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

DOCS_ROOT = "/usr/local/share/hardening"
DR_DIR = "/var/lib/hardening/dr"
#: Written by ``hardening-app-restart`` (deploys/restart_app.py and the DR drill).
APP_RESTART_RESULT = f"{DR_DIR}/app-restart.json"
#: Written by ``hardening-dr-drill`` (the monthly DR drill timer on db hosts).
DR_DRILL_RESULT = f"{DR_DIR}/drill.json"
DR_DRILL_UNIT = "hardening-dr-drill"
_END = "#end"


class DocumentFiles(FactBase):
    """
    The files under ``/usr/local/share/hardening/{runbooks,docs}`` with the digest stamped on
    their first line (empty when none).

    .. code:: python

        {"runbooks/application-restart.md": {"size": 1834, "mtime": 1704070800,
                                             "digest": "3f2a9c0d1e2b4a5f"}}
    """

    default = dict

    def command(self, root: str = DOCS_ROOT) -> str:
        return (
            f'for f in {root}/runbooks/* {root}/docs/*; do [ -f "$f" ] || continue; '
            "d=$(head -n 1 \"$f\" | grep -o 'hardening: digest=[0-9a-f]*' | cut -d= -f2); "
            "echo \"$(stat -c '%n|%s|%Y' \"$f\")|$d\"; done; echo '#end'"
        )

    def process(self, output: list[str]) -> dict:
        files = {}
        for line in output:
            parts = line.rsplit("|", 3)
            if len(parts) != 4 or "/" not in parts[0]:
                continue
            name = "/".join(parts[0].split("/")[-2:])
            files[name] = {"size": int(parts[1]), "mtime": int(parts[2]), "digest": parts[3]}
        return files


_ACCESS_SCRIPT = r"""
getent passwd | awk -F: '$7 !~ /(nologin|false|sync)$/ {print "user|"$1"|"$3"|"$7}'
for g in sudo wheel admin; do
  getent group "$g" | cut -d: -f4 | tr ',' '\n' | sed '/^$/d; s/^/sudo|/'
done
ls /etc/sudoers.d 2>/dev/null | grep -v '^README$' | sed 's/^/sudoers|/'
getent passwd | awk -F: '$7 !~ /(nologin|false|sync)$/ {print $1" "$6}' | while read -r u h; do
  for f in "$h/.ssh/authorized_keys" "$h/.ssh/authorized_keys2"; do
    [ -r "$f" ] && ssh-keygen -lf "$f" 2>/dev/null | awk -v u="$u" '{print "key|"u"|"$2" "$NF}'
  done
done
if command -v pg_lsclusters >/dev/null 2>&1; then
  runuser -u postgres -- psql -XAtq -F '|' -c "select 'role', rolname, rolcanlogin, rolsuper,
    rolcreaterole, rolcreatedb, rolreplication, rolbypassrls from pg_roles
    where rolname !~ '^pg_' order by 2" 2>/dev/null || echo '#pg-down'
else echo '#pg-absent'; fi
if command -v redis-cli >/dev/null 2>&1; then
  out=$(timeout 5 redis-cli --no-auth-warning ACL USERS 2>&1)
  case "$out" in *NOAUTH*|*ERR*|*WRONGPASS*|*refused*|"") echo '#redis-unreadable';;
    *) echo "$out" | sed 's/^/redis|/';; esac
else echo '#redis-unreadable'; fi
echo '#end'
"""

_ROLE_FIELDS = ("login", "superuser", "createrole", "createdb", "replication", "bypassrls")


class AccessControl(FactBase):
    """
    Who can do what on the host: OS users with a login shell (sudo rights, authorized SSH
    key fingerprints), sudoers.d files, PostgreSQL roles and their attributes, Redis ACL
    users (``None`` when not readable without credentials / PostgreSQL not running).

    .. code:: python

        {"users": [{"name": "root", "uid": 0, "shell": "/bin/bash", "sudo": True,
                    "keys": ["SHA256:abc... (ED25519)"]}],
         "sudoers": ["90-cloud-init-users"],
         "pg_roles": [{"name": "postgres", "login": True, "superuser": True, ...}],
         "redis_users": ["default"]}
    """

    @staticmethod
    def default() -> dict:
        return {"users": [], "sudoers": [], "pg_roles": None, "redis_users": None}

    def command(self) -> str:
        return _ACCESS_SCRIPT.strip()

    def process(self, output: list[str]) -> dict:
        result = self.default()
        users: dict[str, dict] = {}
        sudo: set[str] = set()
        keys: dict[str, list[str]] = {}
        roles: list[dict] = []
        redis: list[str] = []
        for line in output:
            kind, _, rest = line.partition("|")
            fields = rest.split("|")
            if kind == "user" and len(fields) == 3:
                users[fields[0]] = {"name": fields[0], "uid": int(fields[1]), "shell": fields[2]}
            elif kind == "sudo":
                sudo.add(rest)
            elif kind == "sudoers":
                result["sudoers"].append(rest)
            elif kind == "key" and len(fields) == 2:
                keys.setdefault(fields[0], []).append(fields[1])
            elif kind == "role" and len(fields) == 7:
                flags = [value == "t" for value in fields[1:]]
                roles.append({"name": fields[0], **dict(zip(_ROLE_FIELDS, flags, strict=True))})
            elif kind == "redis":
                redis.append(rest)
        result["users"] = [
            {**user, "sudo": user["uid"] == 0 or name in sudo, "keys": sorted(keys.get(name, []))}
            for name, user in sorted(users.items())
        ]
        result["sudoers"] = sorted(result["sudoers"])
        if not {"#pg-down", "#pg-absent"} & set(output):
            result["pg_roles"] = roles
        if "#redis-unreadable" not in output:
            result["redis_users"] = sorted(redis)
        return result


class SshClientAddress(FactBase):
    """
    The address the current SSH connection comes from (``$SSH_CLIENT``), empty when local.

    .. code:: python

        "10.77.1.1"
    """

    default = str

    def command(self) -> str:
        return 'echo "client:${SSH_CLIENT%% *}"'

    def process(self, output: list[str]) -> str:
        for line in output:
            if line.startswith("client:"):
                return line.removeprefix("client:").strip()
        return ""


class UnitLoadState(FactBase):
    """
    systemd's ``LoadState`` of a unit: ``"loaded"``, ``"not-found"``, ... (``""``: no systemd).

    .. code:: python

        "loaded"
    """

    default = str

    def command(self, unit: str) -> StringCommand:
        return StringCommand(
            "echo state:$(systemctl show -p LoadState --value", QuoteString(unit), "2>/dev/null)"
        )

    def process(self, output: list[str]) -> str:
        return next((line[6:].strip() for line in output if line.startswith("state:")), "")
