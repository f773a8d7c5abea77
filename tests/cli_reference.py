"""The command-line reference, docs/cli.md, made from the commands' own ``--help``.

``make docs`` writes it (``python -m tests.cli_reference``); ``tests/test_readme.py`` checks
that it is current.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

PATH = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
COMMANDS = ("run", "check", "demo", "prune", "serve")
WIDTH = "100"  # argparse wraps at the terminal's width: the same on every machine

HEADER = """\
# Command-line reference

Made from `user-failure-stats --help` by `make docs`; a test keeps it current. What the options
mean in practice: [configuration](configuration.md), [scheduled runs](scheduling.md),
[publishing](publishing.md), [notifications](notifications.md).
`python -m user_failure_stats` works the same as `user-failure-stats`.
"""


def help_text(*words: str) -> str:
    """Return what ``user-failure-stats WORDS --help`` prints."""
    from user_failure_stats.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*words, "--help"])
    return out.getvalue()


def reference() -> str:
    """Return docs/cli.md as it should read."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        sections = [("user-failure-stats", help_text())]
        sections += [(f"user-failure-stats {name}", help_text(name)) for name in COMMANDS]
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    body = "".join(f"\n## `{title}`\n\n```text\n{text.rstrip()}\n```\n" for title, text in sections)
    return HEADER + body


if __name__ == "__main__":
    PATH.write_text(reference(), encoding="utf-8")
    sys.stdout.write(f"wrote {PATH}\n")
