"""Config files that are validated before they replace the live ones.

``validated_swap`` stages the new content beside the target (in a 0700 directory,
uploaded as a file transfer so ``--diff`` never prints it), runs the service's own
validator on the staged copy, and only then moves it into place and reloads::

    yield from validated_swap(text, "/etc/nginx/sites-available/x", "nginx -t -c",
                              "systemctl reload nginx", "nginx site")
"""

from __future__ import annotations

import os
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import Sha1File

from hardening.operations._render import sha1

STAGING_DIR = ".hardening-staging"


def validated_swap(
    content: str, path: str, validate: str, reload: str, what: str, group: str | None = None
):
    """Stage ``content``, run ``validate STAGED``, move it to ``path``, run ``reload``.

    The staged copy sits in a 0700 directory beside ``path`` and is uploaded as a plain
    file transfer, so its content is never printed (not even by ``--diff``): it may hold a
    webhook token. With ``group`` the file becomes ``0640 root:group``, else 0644.
    """
    if host.get_fact(Sha1File, path=path) == sha1(content):
        host.noop(f"{what} {path} is current")
        return
    stage_dir = os.path.join(os.path.dirname(path), STAGING_DIR)
    staged = os.path.join(stage_dir, os.path.basename(path))
    yield StringCommand("install -d -m 0700", QuoteString(stage_dir))
    yield FileUploadCommand(StringIO(content), staged)
    yield StringCommand(
        "chown",
        QuoteString(f"root:{group or 'root'}"),
        QuoteString(staged),
        "&& chmod",
        "0640" if group else "0644",
        QuoteString(staged),
    )
    yield StringCommand(
        validate,
        QuoteString(staged),
        "|| { rm -f",
        QuoteString(staged),
        f"; echo '{what} rejected: not installed, the running service keeps the old one' >&2;",
        "exit 1; }",
    )
    yield StringCommand("mv -f", QuoteString(staged), QuoteString(path), "&&", reload)
