"""pyinfra inventory of the running testbed: ``pyinfra inventories/testbed.py ...``.

Hosts, addresses and SSH settings come from ``inventory.json`` of the bed started by
``hardening testbed up`` (state dir ``/run/hardening-testbed``, or ``$HARDENING_TESTBED_STATE``).
Groups: ``web``, ``db_primary``, ``db_replica``, ``cache``, ``monitoring`` (tb1 is web,
db_primary, cache and monitoring; tb2 db_replica; further hosts web). Exits with status 2 and a
one-line message if no testbed is up.
"""

import sys
from pathlib import Path

try:
    from hardening.testbed import TestbedError, load_inventory
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from hardening.testbed import TestbedError, load_inventory

try:
    _groups = load_inventory()
except TestbedError as _error:
    print(f"inventories/testbed.py: {_error}", file=sys.stderr)
    sys.exit(2)

web = _groups["web"]
db_primary = _groups["db_primary"]
db_replica = _groups["db_replica"]
cache = _groups["cache"]
monitoring = _groups["monitoring"]
