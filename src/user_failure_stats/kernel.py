"""Executing the report notebook with papermill, on a kernel launched with the settings.

The settings reach the kernel through its launch's ``env`` argument (see
:class:`ReportKernelManager`): the runner's own environment is not changed, and nothing of
them is written into the executed notebook.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

from jupyter_client import AsyncKernelManager
from traitlets import Dict, Unicode
from traitlets.config import Config

from user_failure_stats.errors import ERRORS_BY_NAME, NotebookError, OutputError

KERNEL_NAME = "python3"
EXECUTION_TIMEOUT_SECONDS = 1800
# Errors of a file that cannot be written: a full disk or quota, a read-only file system.
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EFBIG)
# The kernel logs errors only: its start-up notices are not for the user.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


class ReportKernelManager(AsyncKernelManager):
    """A kernel manager that adds ``environment`` to the kernel's environment.

    The kernel's stderr goes to /dev/null: what it prints while it is shut down after a
    signal is noise, and the notebook's own errors come back as cell outputs.
    """

    environment = Dict(
        value_trait=Unicode(),
        config=True,
        help="Variables added to the kernel's environment (the run's settings).",
    )

    async def start_kernel(self, **kw):
        """Start the kernel; ``env`` and ``stderr`` are the launch's Popen arguments."""
        kw.setdefault("env", os.environ | self.environment)
        kw.setdefault("stderr", subprocess.DEVNULL)
        return await super().start_kernel(**kw)


def engine_options(environment: dict[str, str]) -> dict:
    """Return papermill's (nbclient's) keyword arguments for a kernel with ``environment``."""
    return {
        "kernel_name": KERNEL_NAME,
        "kernel_manager_class": ReportKernelManager,
        "extra_arguments": list(KERNEL_ARGUMENTS),
        "config": Config({"ReportKernelManager": {"environment": dict(environment)}}),
    }


def execute(
    notebook: Path, executed: Path, parameters: dict, environment: dict[str, str], progress=False
) -> None:
    """Execute ``notebook`` with papermill into ``executed``.

    ``parameters`` are saved in the notebook (never a secret); ``environment`` is the kernel's.

    Raises:
        OutputError: The executed notebook could not be saved (a full disk...).
        UserFailureStatsError: The notebook raised one of the package's errors (same class).
        NotebookError: Any other failure, in one line.
    """
    import papermill

    try:
        papermill.execute_notebook(
            str(notebook),
            str(executed),
            parameters=parameters,
            progress_bar=progress,
            log_output=False,
            # Save once at the end, not after every cell: the outputs are large.
            request_save_on_cell_execute=False,
            execution_timeout=EXECUTION_TIMEOUT_SECONDS,
            # All outputs are in when the last cell ends: no graceful shutdown to wait for.
            shutdown_kernel="immediate",
            # The kernel's folder is the run's own, new one: Python imports from its current
            # folder first, and a module planted where the command was started must not run.
            cwd=str(Path(executed).parent),
            **engine_options(environment),
        )
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear error
        raise _notebook_error(exc, executed) from None


def _notebook_error(exc: Exception, executed: Path) -> Exception:
    """Translate a failed execution: the notebook's own errors keep their class and message."""
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:  # saving the executed notebook
        return OutputError(f"cannot write {exc.filename or executed}: {exc.strerror}")
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        if exc.ename in ERRORS_BY_NAME:
            return ERRORS_BY_NAME[exc.ename](exc.evalue)
        return NotebookError(
            f"the report notebook failed in cell {exc.exec_count}: {exc.ename}: "
            f"{_first_line(exc.evalue)}"
        )
    # Kernel start-up, a missing kernel, timeouts.
    return NotebookError(
        f"could not execute the report notebook: {exc.__class__.__name__}: {_first_line(str(exc))}"
    )


def _first_line(text: str) -> str:
    text = str(text).strip()
    return text.splitlines()[0][:300] if text else ""
