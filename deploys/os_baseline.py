"""OS baseline (sysctls, core dumps, password aging, persistent journal, security-only
unattended upgrades), then the scheduled security jobs (OPS-W-01..03, OPS-M-01).

pyinfra inventories/prod.py deploys/os_baseline.py
"""

from hardening.deploys.os_baseline import os_baseline, security_jobs

os_baseline()
security_jobs()
