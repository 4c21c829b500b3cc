"""SEC-05, SEC-06, FE-05, FE-06, PERF-08, INF-04, INF-01: nginx, ModSecurity WAF, haproxy.

pyinfra inventories/prod.py deploys/web.py
"""

from hardening.deploys.web import web

web()
