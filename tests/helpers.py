"""Helpers shared by the test modules."""

import subprocess
import sys

COMMAND = [sys.executable, "-m", "user_failure_stats"]


def run_cli(args, env, cwd, timeout=600) -> subprocess.CompletedProcess:
    """Run ``python -m user_failure_stats ARGS`` in ``cwd`` and capture its output."""
    return subprocess.run(
        [*COMMAND, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
