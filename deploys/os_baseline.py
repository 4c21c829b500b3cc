"""OS baseline (sysctls, core dumps, password aging and PAM lockout, persistent journal,
security-only unattended upgrades, unused kernel modules, sensitive file permissions, time
sync), then the scheduled security jobs (OPS-W-01..03, OPS-M-01).

pyinfra inventories/prod.py deploys/os_baseline.py
"""

from hardening.deploys.os_baseline import os_baseline, security_jobs

os_baseline()
security_jobs()
