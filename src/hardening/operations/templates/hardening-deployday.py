#!/usr/bin/python3
"""hardening-deployday: the host side of `hardening deploy-day` (installed by hardening).

Every step records a gate (status pass/fail/skip/pending, detail, time) in
/var/lib/hardening/deployday/<release>/record.json and copies the record to
/var/lib/hardening/deployday/last.json, which the audit's checks read. A failed gate
prints ``GATE FAILED <name>: <detail>`` on stderr and exits 1. Stdlib only; no secret
value is ever read or printed (the environment file is never opened).
"""

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

STATE = "/var/lib/hardening/deployday"
#: The node exporter's textfile collector (Debian's default directory).
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"


def now():
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(command, timeout=60):
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout


def write_json(path, value):
    os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as stream:
        json.dump(value, stream, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)


def read_json(path, default=None):
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError):
        return default


def release_dir(release):
    return os.path.join(STATE, release)


def load_record(release):
    path = os.path.join(release_dir(release), "record.json")
    return read_json(path) or {
        "schema": 1,
        "release": release,
        "started": now(),
        "result": "running",
        "gates": {},
    }


def save_record(record):
    write_json(os.path.join(release_dir(record["release"]), "record.json"), record)
    write_json(os.path.join(STATE, "last.json"), record)


def gate(release, name, status, detail):
    record = load_record(release)
    record["gates"][name] = {"status": status, "detail": detail, "at": now()}
    save_record(record)
    print(f"gate {name}: {status}: {detail}")
    if status == "fail":
        print(f"GATE FAILED {name}: {detail}", file=sys.stderr)
        return 1
    return 0


def http_get(url, timeout=5):
    """(status, body) of a GET; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read(65536)
    except urllib.error.HTTPError as error:
        return error.code, b""
    except (OSError, ValueError) as error:
        return 0, str(error).encode()


def readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return ""


def etc_checksums():
    sums = {}
    for top, _dirs, names in os.walk("/etc"):
        for name in names:
            path = os.path.join(top, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            if not os.stat(path).st_mode & 0o004:
                sums[path] = "private"  # no checksum of a secret file (offline guessing)
                continue
            try:
                with open(path, "rb") as stream:
                    sums[path] = hashlib.sha256(stream.read()).hexdigest()
            except OSError:
                continue
    return sums


def psql(database, sql):
    """(exit code, output) of one statement run as postgres in ``database``."""
    return run(["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", database, "-c", sql])


def row_counts(tables):
    counts = {}
    for entry in tables:
        database, _, table = entry.partition("/")
        code, out = psql(database, f"SELECT count(*) FROM {table}")
        counts[entry] = int(out.strip()) if code == 0 and out.strip().isdigit() else None
    return counts


def cmd_snapshot(args):
    _, packages = run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\n"])
    _, units = run(["systemctl", "list-units", "--type=service", "--all", "--no-legend", "--plain"])
    snapshot = {
        "release": args.release,
        "taken": now(),
        "packages": dict(line.split("\t", 1) for line in packages.splitlines() if "\t" in line),
        "etc_sha256": etc_checksums(),
        "services": {
            f[0]: f[2] + "/" + f[3] for f in (u.split() for u in units.splitlines()) if len(f) >= 4
        },
        "app": {
            "current": readlink(args.current),
            "static": readlink(args.static),
            "service": args.service,
        },
        "schema": None,
        "row_counts": row_counts(args.table),
    }
    if args.schema_query:
        code, out = psql(args.schema_db, args.schema_query)
        snapshot["schema"] = out.strip() if code == 0 else None
    directory = release_dir(args.release)
    write_json(os.path.join(directory, "snapshot.json"), snapshot)
    previous = snapshot["app"]["current"] or "(none)"
    plan = [
        f"# Rollback plan for release {args.release}",
        "",
        f"Snapshot taken {snapshot['taken']}: {len(snapshot['packages'])} packages, "
        f"{len(snapshot['etc_sha256'])} files under /etc, {len(snapshot['services'])} services.",
        "",
        "1. `pyinfra INVENTORY deploys/rollback.py --data deployday_release="
        f"{args.release}` (or `hardening-deployday rollback {args.release}` on this host)",
        f"2. It points {args.current} back to `{previous}` and the static bundle "
        f"{args.static} back to `{snapshot['app']['static'] or '(none)'}`",
        f"3. It restarts `{args.service}` and waits for its health check",
        "4. Restore the database from the pre-flight backup only if a migration ran "
        f"(schema before: {snapshot['schema'] or 'not declared'})",
        "",
    ]
    with open(os.path.join(directory, "ROLLBACK.md"), "w", encoding="utf-8") as stream:
        stream.write("\n".join(plan))
    record = load_record(args.release)
    record["previous"] = snapshot["app"]["current"]
    save_record(record)
    gate(
        args.release,
        "state_snapshot",
        "pass",
        f"{len(snapshot['packages'])} packages, {len(snapshot['etc_sha256'])} /etc files, "
        f"{len(snapshot['services'])} services",
    )
    return gate(
        args.release, "rollback_plan", "pass", f"ROLLBACK.md: restore {args.current} -> {previous}"
    )


def wait_healthy(url, timeout):
    deadline = time.monotonic() + timeout
    status, body = 0, b""
    while time.monotonic() < deadline:
        status, body = http_get(url)
        if status == 200:
            db = health_db(body)
            if db in (None, "ok"):
                return True, f"{url} answered 200" + ("" if db is None else ", db ok")
            return False, f"{url} answered 200 but db is {db!r}"
        time.sleep(1)
    return False, f"{url} answered {status or 'nothing'} within {timeout}s"


def health_db(body):
    """The ``db`` field of a JSON health answer (the app's database check), else None."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value.get("db") if isinstance(value, dict) else None


# hardening:inline wsprobe -- install_tool pastes hardening/wsprobe.py here (ws_echo)


def cmd_websocket(args):
    ok, detail = ws_echo(args.url)  # noqa: F821 -- inlined from hardening.wsprobe
    return gate(args.release, "websocket", "pass" if ok else "fail", f"{args.url}: {detail}")


def restart(service):
    code, _ = run(["systemctl", "restart", service])
    return code == 0


def cmd_switch(args):
    target = os.path.join(os.path.dirname(args.current), "releases", args.release)
    if not os.path.isdir(target):
        return gate(args.release, "backend_health", "fail", f"{target} does not exist")
    link_to(args.current, target)
    restart(args.service)
    ok, detail = wait_healthy(args.health, args.timeout)
    return gate(args.release, "backend_health", "pass" if ok else "fail", detail)


def link_to(link, target):
    tmp = link + ".hardening-tmp"
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(target, tmp)
    if os.path.isdir(link) and not os.path.islink(link):
        os.rename(link, link + ".pre-hardening")
    os.replace(tmp, link)


def cmd_frontend(args):
    record = load_record(args.release)
    backend = record["gates"].get("backend_health", {})
    if backend.get("status") != "pass":
        return gate(
            args.release,
            "frontend_order",
            "fail",
            "backend not healthy on this host: frontend not switched",
        )
    bundle = os.path.join(os.path.dirname(args.current), "releases", args.release, "static")
    if os.path.isdir(bundle):
        link_to(args.static, bundle)
    code = gate(
        args.release,
        "frontend_order",
        "pass",
        f"frontend switched at {now()} after backend healthy at {backend['at']}",
    )
    status, body = http_get(args.url)
    loads = status == 200 and b"<" in body
    return code or gate(
        args.release,
        "frontend_loads",
        "pass" if loads else "fail",
        f"{args.url} answered {status or 'nothing'}, {len(body)} bytes",
    )


def journal_errors(since, unit=""):
    """(exit code, messages) of journal lines at priority err or worse since ``since``, of
    ``unit`` or of every unit."""
    only = ["-u", unit] if unit else []
    return run(["journalctl", "--no-pager", "-o", "cat", "-p", "err", *only, "--since", since])


def cmd_logscan(args):
    code, out = journal_errors(args.since, args.service)
    lines = [line for line in out.splitlines() if line.strip()]
    if code != 0:
        return gate(args.release, args.gate, "skip", "journalctl unavailable")
    status = "pass" if not lines else "fail"
    return gate(
        args.release,
        args.gate,
        status,
        f"{len(lines)} error lines from {args.service} since {args.since}",
    )


def cmd_smoke(args):
    failed, passed = [], []
    for path in args.path:
        status, _ = http_get(args.base.rstrip("/") + path)
        (passed if status == 200 else failed).append(f"{path}={status or 'none'}")
    status = "fail" if failed or not passed else "pass"
    return gate(args.release, args.gate, status, ", ".join(failed + passed))


def prom_value(base, query):
    url = base.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    status, body = http_get(url)
    if status != 200:
        return None
    result = json.loads(body).get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else None


def prometheus_base(url):
    """``url``, or its https:// form when Prometheus serves TLS (the hardening CA is in the
    system store, so urllib verifies it)."""
    if url.startswith("http://"):
        secure = "https://" + url[len("http://") :]
        if http_get(secure.rstrip("/") + "/-/ready")[0] == 200:
            return secure
    return url


def cmd_prometheus(args):
    args.url = prometheus_base(args.url)
    status, _ = http_get(args.url.rstrip("/") + "/-/ready")
    if status != 200:
        gate(args.release, "error_rates", "skip", f"no Prometheus at {args.url}")
        return gate(args.release, "performance", "skip", f"no Prometheus at {args.url}")
    window = args.window
    errors = prom_value(
        args.url,
        f'sum(rate(http_requests_total{{code=~"5.."}}[{window}]))'
        f" / sum(rate(http_requests_total[{window}]))",
    )
    p95 = prom_value(
        args.url,
        "histogram_quantile(0.95, sum by (le) "
        f"(rate(http_request_duration_seconds_bucket[{window}])))",
    )
    up = prom_value(args.url, "count(up == 1)")
    if errors is None or errors != errors:
        code = gate(
            args.release,
            "error_rates",
            "pass" if up else "fail",
            f"no HTTP request metrics yet; {int(up or 0)} targets up",
        )
    else:
        code = gate(
            args.release,
            "error_rates",
            "pass" if errors <= args.max_error_rate else "fail",
            f"5xx ratio {errors:.4f} (max {args.max_error_rate})",
        )
    if p95 is None or p95 != p95:
        detail, status = f"no latency histogram yet; {int(up or 0)} targets up", "pass"
    else:
        detail = f"p95 {p95 * 1000:.0f} ms (max {args.max_p95_ms} ms)"
        status = "pass" if p95 * 1000 <= args.max_p95_ms else "fail"
    return code or gate(args.release, "performance", status if up else "fail", detail)


def cmd_record(args):
    code = 0
    for name, value in json.loads(args.gates).items():
        code |= gate(args.release, name, value["status"], value["detail"])
    return code


def cmd_note(args):
    record = load_record(args.release)
    snapshot = read_json(os.path.join(release_dir(args.release), "snapshot.json"), {})
    lines = [
        f"# Deployment {args.release}",
        "",
        f"- started: {record.get('started')}",
        f"- noted: {now()}",
        f"- previous release: {record.get('previous') or '(none)'}",
        f"- current: {readlink(args.current) or '(none)'}",
        f"- static bundle: {readlink(args.static) or '(none)'}",
        f"- packages at snapshot: {len(snapshot.get('packages', {}))}",
        "",
        "## Gates",
        "",
    ]
    lines += [
        f"- {name}: {gate_['status']} — {gate_['detail']}"
        for name, gate_ in sorted(record["gates"].items())
    ]
    with open(os.path.join(release_dir(args.release), "NOTES.md"), "w", encoding="utf-8") as stream:
        stream.write("\n".join(lines) + "\n")
    return gate(args.release, "documentation_note", "pass", f"{release_dir(args.release)}/NOTES.md")


def label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def deployment_metrics(service, version, at):
    """Exposition text of a release that went live: the time (the series ``changes()``
    counts: no version label, so a new release changes the value of the same series) and
    the version as an info series."""
    name = label(service)
    return (
        "# HELP deployment_timestamp_seconds Unix time the service's last release went live.\n"
        "# TYPE deployment_timestamp_seconds gauge\n"
        f'deployment_timestamp_seconds{{service="{name}"}} {int(at)}\n'
        "# HELP deployment_info The release that is live (value 1).\n"
        "# TYPE deployment_info gauge\n"
        f'deployment_info{{service="{name}",version="{label(version)}"}} 1\n'
    )


def write_deployment_metrics(service, version, directory=TEXTFILE_DIR):
    """Write ``deployment.prom`` atomically (tmp + rename) when the collector's directory
    exists (no node exporter: nothing to write)."""
    if not os.path.isdir(directory):
        return
    path = os.path.join(directory, "deployment.prom")
    with open(path + ".tmp", "w", encoding="utf-8") as stream:
        stream.write(deployment_metrics(service, version, time.time()))
    os.chmod(path + ".tmp", 0o644)
    os.replace(path + ".tmp", path)


def cmd_finish(args):
    record = load_record(args.release)
    record["result"] = args.result
    record["finished"] = now()
    save_record(record)
    if args.result == "success":
        write_deployment_metrics("app", args.release)
    print(f"release {args.release}: {args.result}")
    return 0


def cmd_rollback(args):
    snapshot = read_json(os.path.join(release_dir(args.release), "snapshot.json"))
    if not snapshot:
        print(f"no snapshot for release {args.release}", file=sys.stderr)
        return 1
    app = snapshot["app"]
    if app["current"]:
        link_to(args.current, app["current"])
    if app["static"]:
        link_to(args.static, app["static"])
    if app["current"]:
        restart(args.service)
    ok, detail = wait_healthy(args.health, args.timeout) if app["current"] else (True, "no app")
    record = load_record(args.release)
    record["result"] = "rolled_back"
    record["rolled_back"] = {"at": now(), "to": app["current"], "health": detail}
    save_record(record)
    if app["current"]:
        write_deployment_metrics("app", os.path.basename(app["current"]))
    print(f"rolled back to {app['current'] or '(none)'}: {detail}")
    return 0 if ok else 1


def rss_kib(service):
    _, out = run(["systemctl", "show", "-p", "MainPID", "--value", service])
    pid = out.strip()
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def cmd_watch(args):
    path = os.path.join(release_dir(args.release), "watch.json")
    watch = read_json(path) or {"release": args.release, "samples": []}
    started = watch.get("since")
    if (
        started
        and time.time()
        - datetime.datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=datetime.UTC)
        .timestamp()
        > args.hours * 3600
    ):
        print(f"watch window of {args.hours} h after {started} is over")
        return 0
    _, failed = run(["systemctl", "list-units", "--failed", "--no-legend", "--plain"])
    _, restarts = run(["systemctl", "show", "-p", "NRestarts", "--value", args.service])
    _, errors = journal_errors(watch.get("since") or "-1h")
    snapshot = read_json(os.path.join(release_dir(args.release), "snapshot.json"), {})
    sample = {
        "at": now(),
        "failed_units": [line.split()[0] for line in failed.splitlines() if line.strip()],
        "restarts": int(restarts.strip()) if restarts.strip().isdigit() else None,
        "error_lines": len([line for line in errors.splitlines() if line.strip()]),
        "rss_kib": rss_kib(args.service),
        "row_counts": row_counts(args.table),
        "baseline_row_counts": snapshot.get("row_counts", {}),
        "prometheus_up": None,
    }
    if args.prometheus:
        args.prometheus = prometheus_base(args.prometheus)
        status, _ = http_get(args.prometheus.rstrip("/") + "/-/ready")
        sample["prometheus_up"] = (
            prom_value(args.prometheus, "count(up == 1)") if status == 200 else None
        )
    watch.setdefault("since", sample["at"])
    watch["samples"] = (watch["samples"] + [sample])[-args.keep :]
    write_json(path, watch)
    write_json(os.path.join(STATE, "watch.json"), watch)
    print(f"watch sample {len(watch['samples'])}: {json.dumps(sample)[:200]}")
    return 0


def main():
    parser = argparse.ArgumentParser(prog="hardening-deployday")
    parser.add_argument("--current", default="/opt/hardening-demo-app/current")
    parser.add_argument("--static", default="/srv/hardening-demo-app/static")
    parser.add_argument("--service", default="hardening-demo-app")
    parser.add_argument("--health", default="http://127.0.0.1:8000/healthz")
    parser.add_argument("--timeout", type=int, default=30)
    parser.add_argument("--table", action="append", default=[])
    commands = parser.add_subparsers(dest="command", required=True)

    def sub(name):
        command = commands.add_parser(name)
        command.add_argument("release")
        return command

    snapshot = sub("snapshot")
    snapshot.add_argument("--schema-query", default="")
    snapshot.add_argument("--schema-db", default="postgres")
    sub("switch")
    sub("frontend").add_argument("--url", default="http://127.0.0.1:8000/")
    sub("websocket").add_argument("--url", default="ws://127.0.0.1:8000/ws")
    logscan = sub("logscan")
    logscan.add_argument("--since", required=True)
    logscan.add_argument("--gate", default="log_scan")
    smoke = sub("smoke")
    smoke.add_argument("--base", default="http://127.0.0.1:8000")
    smoke.add_argument("--gate", default="smoke_tests")
    smoke.add_argument("path", nargs="+")
    prometheus = sub("prometheus")
    prometheus.add_argument("--url", default="http://127.0.0.1:9090")
    prometheus.add_argument("--window", default="5m")
    prometheus.add_argument("--max-error-rate", type=float, default=0.01)
    prometheus.add_argument("--max-p95-ms", type=float, default=500)
    sub("record").add_argument("gates")
    sub("note")
    sub("finish").add_argument("result")
    sub("rollback")
    watch = sub("watch")
    watch.add_argument("--prometheus", default="")
    watch.add_argument("--keep", type=int, default=500)
    watch.add_argument("--hours", type=float, default=48)
    args = parser.parse_args()
    return globals()["cmd_" + args.command](args)


if __name__ == "__main__":
    sys.exit(main())
