"""Helpers shared by the test modules."""

import subprocess
import sys

COMMAND = [sys.executable, "-m", "user_failure_stats"]
# The seed's window on the command line: 21 and 22 May 2025 in Kolkata.
SEED_WINDOW = ["--start", "2025-05-21", "--end", "2025-05-23", "--timezone", "Asia/Kolkata"]


def run_cli(args, env, cwd, timeout=600) -> subprocess.CompletedProcess:
    """Run ``python -m user_failure_stats ARGS`` in ``cwd`` and capture its output."""
    return subprocess.run(
        [*COMMAND, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
