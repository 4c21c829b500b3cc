"""SSH server hardening: key-only auth, modern KEX/ciphers/MACs, sshd -t before reload.

pyinfra inventories/prod.py deploys/ssh.py
"""

from hardening.deploys.ssh import ssh_hardening

ssh_hardening()
