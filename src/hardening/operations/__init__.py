"""pyinfra operations of the toolkit, one module per component.

An operation that finds bad input raises :class:`~pyinfra.api.exceptions.OperationError`
with one line saying what is wrong and how to fix it. pyinfra 3 runs operation bodies
when it executes them (with ``-y`` change detection is skipped), inside a gevent
greenlet whose hub prints a traceback for every exception before pyinfra prints its own
``--> Operation error ...`` line. An ``OperationError`` is an expected outcome, not a
crash, so the hub is told not to print it; any other exception still shows its traceback.
"""

from __future__ import annotations

from gevent.hub import Hub
from pyinfra.api.exceptions import OperationError

if not issubclass(OperationError, Hub.NOT_ERROR):
    Hub.NOT_ERROR = (*Hub.NOT_ERROR, OperationError)
