"""Writing report files: private by default (mode 0600 in a 0700 folder), never half-written.

A report holds the subject's personal data, so it is created with owner-only permissions from
the first byte (not chmod-ed afterwards) and moved into place atomically, so a crash never
leaves a truncated report that looks complete. Folder names carry the request id only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from hub.models import Report


def write_private(path: Path, content: str) -> Path:
    """Atomically write ``content`` to ``path`` with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_report(report: Report, out_dir: Path) -> Path:
    """Write ``<out_dir>/<request id>/report.json``; returns the folder."""
    folder = out_dir / report.request.id
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(folder / "report.json", report.model_dump_json(indent=2) + "\n")
    return folder
