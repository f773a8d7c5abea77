"""``python -m user_failure_stats``: the same as the ``user-failure-stats`` command."""

from user_failure_stats.cli import entry

entry()
