"""``python -m hardening`` runs the command line."""

import sys

from hardening.cli import main

sys.exit(main())
