"""SEC-08: the daily hardening-rotate timer on the rotation_controller host.

pyinfra inventories/prod.py deploys/rotation_timer.py
"""

from hardening.deploys.secrets import rotation_timer

rotation_timer()
