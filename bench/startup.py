"""Start-up benchmark: how long the ``dsar`` command takes to answer, against Python itself.

The command is run the way an operator runs it, as a fresh process, and each figure is the best
of N runs (the least disturbed by whatever else the machine is doing), divided by the best of
N runs of a bare ``python -c pass``: the ratio stays comparable between a laptop and CI.
Printed:

    dsar --help            ÷ python -c pass   (target ≤ 10: typer and the command modules only)
    dsar requests --help   ÷ python -c pass   (also typer's coercion of the global options)
    dsar requests list     ÷ python -c pass   (an empty SQLite ledger at the current schema)

An installed ``dsar`` runs from compiled bytecode, so the children write and read theirs in
a throw-away folder (``PYTHONPYCACHEPREFIX``, even when ``PYTHONDONTWRITEBYTECODE`` is set here),
and one untimed run of each command compiles it first.
``tests/test_startup.py`` checks which modules these commands import; this prints the time.

Run: python bench/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_once(argv: list[str], env: dict[str, str]) -> float:
    """The wall time of one run of ``argv``, in seconds; a failed run stops the benchmark (a
    command that errors out early would look fast)."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL,  # noqa: S603
                          stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}): "
                 f"{done.stderr.decode(errors='replace').strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per command (best is kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dsar-bench-startup-") as scratch:
        env = {key: value for key, value in os.environ.items()  # not the caller's database
               if not key.startswith("DSAR_") and key != "PYTHONDONTWRITEBYTECODE"}
        env |= {"DSAR_STATE_DIR": str(Path(scratch) / "state"),
                "DSAR_CONFIG": str(REPO / "config" / "hub.toml"),
                "PYTHONPYCACHEPREFIX": str(Path(scratch) / "pycache")}
        dsar = [sys.executable, "-m", "hub"]
        commands = {"python -c pass": [sys.executable, "-c", "pass"],
                    "dsar --help": [*dsar, "--help"],
                    "dsar requests --help": [*dsar, "requests", "--help"],
                    "dsar requests list": [*dsar, "requests", "list"]}
        # compiles everything once; the first `requests list` also creates and migrates the
        # ledger, so the timed runs find it current
        for argv in commands.values():
            run_once(argv, env)
        # Round by round, every command once: a busy spell of the machine slows them all alike
        # instead of whichever command happened to run during it.
        best = dict.fromkeys(commands, float("inf"))
        for _ in range(args.runs):
            for name, argv in commands.items():
                best[name] = min(best[name], run_once(argv, env))
        bare = best.pop("python -c pass")
        print(f"python -c pass: {bare * 1000:.1f} ms (best of {args.runs})")
        for name, took in best.items():
            target = "  (target ≤ 10)" if name == "dsar --help" else ""
            print(f"{name}: {took * 1000:.1f} ms = {took / bare:.1f} × python -c pass{target}")


if __name__ == "__main__":
    main()
