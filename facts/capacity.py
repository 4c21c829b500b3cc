"""Compute capacity of a host (INF-08). Installed as ``hardening.facts.capacity``."""

from __future__ import annotations

from pyinfra.api import FactBase

_KB_PER_MB = 1024
_KB_PER_GB = 1024 * 1024


class HostCapacity(FactBase):
    """
    CPUs, memory and root filesystem space usable on the host, cgroup limits applied
    (a container sees the machine's ``nproc`` and ``MemTotal`` but may be capped).

    .. code:: python

        {"cpus": 2.0, "memory_mb": 1994, "disk_total_gb": 19.5, "disk_free_gb": 12.1,
         "limited_by": ["cgroup memory.max"]}
    """

    @staticmethod
    def default() -> dict:
        return {}

    def command(self) -> str:
        return (
            "echo nproc:$(nproc 2>/dev/null);"
            "echo cpu_max:$(cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo max);"
            "echo mem_kb:$(awk '/^MemTotal:/{print $2}' /proc/meminfo);"
            "echo mem_max:$(cat /sys/fs/cgroup/memory.max 2>/dev/null || echo max);"
            'df -Pk / | awk \'NR==2{print "disk_kb:"$2" "$4}\''
        )

    def process(self, output: list[str]) -> dict:
        values = dict(line.split(":", 1) for line in output if ":" in line)
        limited_by = []
        cpus = float(values.get("nproc") or 0)
        quota, _, period = values.get("cpu_max", "max").partition(" ")
        if quota.isdigit() and period.isdigit() and int(period) and int(quota) / int(period) < cpus:
            cpus = int(quota) / int(period)
            limited_by.append("cgroup cpu.max")
        memory_kb = int(values.get("mem_kb") or 0)
        mem_max = values.get("mem_max", "max")
        if mem_max.isdigit() and int(mem_max) // 1024 < memory_kb:
            memory_kb = int(mem_max) // 1024
            limited_by.append("cgroup memory.max")
        total_kb, _, free_kb = values.get("disk_kb", "0 0").partition(" ")
        return {
            "cpus": round(cpus, 2),
            "memory_mb": memory_kb // _KB_PER_MB,
            "disk_total_gb": round(int(total_kb or 0) / _KB_PER_GB, 1),
            "disk_free_gb": round(int(free_kb or 0) / _KB_PER_GB, 1),
            "limited_by": limited_by,
        }
