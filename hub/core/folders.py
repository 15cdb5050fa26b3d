"""Folders the hub creates are private to the user that runs it.

``Path.mkdir(parents=True, mode=0o700)`` gives the mode to the last folder only: the parents it
creates on the way get the default (0755 under the usual umask), so ``--out ~/dsar/reports`` or
a new state folder would leave folders that other users of the machine can list, and request
ids and file names tell them whose requests exist. Every folder created here is 0700, whatever
the umask; folders that already exist are left as their owner set them.
"""

from __future__ import annotations

import os
from pathlib import Path


def make_private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents, each new one with mode 0700; returns ``path``."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # made by another process meanwhile: leave it as it is
            continue
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
    if not path.is_dir():
        raise NotADirectoryError(f"not a folder: {path}")
    return path
