"""Redis interfaces, memory limit, eviction and persistence.

pyinfra inventories/prod.py deploys/redis.py
"""

from hardening.deploys.redis import redis

redis()
