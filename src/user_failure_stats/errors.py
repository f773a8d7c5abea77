"""The project's exceptions and the exit codes the command line maps them to.

Callers catch :class:`UserFailureStatsError` and print its message: every message is one
line, written for the person running the tool, and never contains a secret.
"""

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
EXIT_DATABASE = 3
EXIT_NOTEBOOK = 4
EXIT_ALERT = 5
EXIT_EMPTY = 6
EXIT_DELIVERY = 7


class UserFailureStatsError(Exception):
    """Base class: a failure the tool can explain in one line."""

    exit_code = EXIT_UNEXPECTED


class ConfigError(UserFailureStatsError):
    """Bad input: a setting, a parameter file, a flag or a window; ``field`` names it, if any."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class OutputError(UserFailureStatsError):
    """A file could not be written: the output directory is missing, read-only or full."""

    exit_code = EXIT_BAD_INPUT


class DatabaseError(UserFailureStatsError):
    """The database could not be reached, or the query failed."""

    exit_code = EXIT_DATABASE


class NotebookError(UserFailureStatsError):
    """The report notebook failed to execute or render."""

    exit_code = EXIT_NOTEBOOK


class DeliveryError(UserFailureStatsError):
    """The report was written and stands, but publishing or announcing it failed."""

    exit_code = EXIT_DELIVERY


class PublishError(DeliveryError):
    """The report could not be copied to the publish target (``--publish``, ``PUBLISH_URL``)."""


class NotifyError(DeliveryError):
    """A notification could not be sent (``NOTIFY_URLS``)."""


class Interrupted(KeyboardInterrupt):
    """A signal stopped a run after a report was written.

    ``written`` is the report under way (or None), ``done`` the reports written and delivered
    before it (``--each``): they stand.
    """

    def __init__(self, written, link: str | None = None, done: tuple = ()):
        super().__init__()
        self.written = written
        self.link = link
        self.done = done


# papermill reports a notebook's failed cell by the exception's class name and message: the
# runner rebuilds ours from them, so the exit code holds. Every parameter and setting is
# checked before the kernel starts, so the notebook's own errors have no ``field`` to lose.
ERRORS_BY_NAME = {
    cls.__name__: cls for cls in (ConfigError, OutputError, DatabaseError, NotebookError)
}
