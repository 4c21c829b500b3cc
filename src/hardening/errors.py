"""Errors meant for people: one line that says what is wrong and how to fix it.

The CLI prints ``str(error)`` and exits 2; it never shows a traceback for these.
"""


class HardeningError(Exception):
    """A problem the user can fix (bad input, unreachable host, missing tool)."""


class InventoryDataError(HardeningError):
    """Inventory data that does not have the documented shape."""
