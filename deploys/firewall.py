"""SEC-04: nftables default deny, only the inventory's ports, with lockout rollback.

pyinfra inventories/prod.py deploys/firewall.py
"""

from hardening.deploys import firewall

firewall()
