"""The report's kernel manager: jupyter_client's own, launched with the run's settings.

papermill creates it (``kernel_manager_class``) from a traitlets ``Config`` that holds the
settings, and nbclient starts and stops it as it does any kernel. The settings reach the
kernel through its launch's ``env`` argument: the runner's own environment is not changed,
and nothing of them is written into the executed notebook.
"""

from __future__ import annotations

import os
import subprocess

from jupyter_client import AsyncKernelManager
from traitlets import Dict, Unicode
from traitlets.config import Config

KERNEL_NAME = "python3"
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
    """Return papermill's keyword arguments for a kernel with ``environment`` added.

    papermill passes them on to nbclient's ``NotebookClient``.
    """
    return {
        "kernel_name": KERNEL_NAME,
        "kernel_manager_class": ReportKernelManager,
        "extra_arguments": list(KERNEL_ARGUMENTS),
        "config": Config({"ReportKernelManager": {"environment": dict(environment)}}),
    }
