"""SEC-09 (disk part): an encrypted LUKS2 volume for PostgreSQL's data, only on hosts whose
inventory data names an empty device in postgres_luks_device.

pyinfra inventories/prod.py deploys/storage.py
"""

from hardening.deploys.storage import encrypted_data_volume

encrypted_data_volume()
