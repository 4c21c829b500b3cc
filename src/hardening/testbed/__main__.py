"""``python -m hardening.testbed ...``: the testbed CLI without the project CLI around it."""

from __future__ import annotations

import sys

from .cli import main
from .errors import TestbedError


def run() -> int:
    try:
        return main(sys.argv[1:])
    except TestbedError as error:
        print(f"hardening testbed: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(run())
