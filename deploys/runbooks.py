"""DR-RUN-01..05, DOC-02/03/05/06/08, OPS-M-03, STAB-07: runbooks and compliance documents
from the inventory and the hosts' facts on every host, the monthly DR drill on db hosts.

pyinfra inventories/prod.py deploys/runbooks.py
"""

from hardening.deploys.runbooks import runbooks

runbooks()
