"""hardening: the production-deployment checklist as pyinfra code.

Operations make hosts compliant, facts observe them, checks judge each
checklist item, reports account for all 150 items per host.
"""

__version__ = "0.1.0"
