"""Where the sandbox's seed data lives, in a checkout and in an installed wheel.

Why: the seed files are test fixtures (``tests/fixtures/sandbox``) but ``dsar --sandbox`` must
also work from an installed wheel, which ships a copy as ``hub/sandbox/fixtures`` (see the
hatch ``force-include`` in pyproject.toml). Every load parses the file afresh so each sandbox
instance owns its own mutable copy of the data.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any


def fixtures_dir() -> Path:
    """The packaged copy if present, else the repository's ``tests/fixtures/sandbox``."""
    packaged = Path(__file__).parent / "fixtures"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "sandbox"


@cache
def _fixture_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def load_fixture(name: str) -> Any:
    """A fresh, independent copy of one seed file (e.g. ``"stripe.json"``)."""
    return json.loads(_fixture_text(fixtures_dir() / name))
