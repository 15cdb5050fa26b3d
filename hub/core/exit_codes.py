"""The verdict of a command, as its process exit code (the README).

It lives in the core, not the CLI, because the use-cases reach the verdict and also write it
into their result files (``erasure.json``'s ``exit_code``): a scheduler or web UI that runs a
use-case without the CLI reads the same number a shell script would see.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """0 done; 1 unexpected error; 2 bad usage or input, nothing contacted; 3 partial (a
    processor failed, was skipped or needs a manual step; the report says which)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    PARTIAL = 3
    #: ``dsar audit verify``: the audit log was tampered with (the same number as partial).
    TAMPERED = 3
    #: Ctrl+C: the shell's convention (128 + SIGINT).
    INTERRUPTED = 130
