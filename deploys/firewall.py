"""SEC-04 and SEC-07 (host part): net.* sysctls against SYN floods and spoofing, then
nftables default deny, only the inventory's ports from their allowed sources, per-source
rate limits on public ports, lockout rollback.

pyinfra inventories/prod.py deploys/firewall.py
"""

from hardening.deploys.firewall import firewall

firewall()
