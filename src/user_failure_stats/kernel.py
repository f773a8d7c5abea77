"""The report's kernel: started before papermill loads, quiet, and stopped at once.

The runner launches the kernel itself, so that it boots (0.4 s) while papermill and nbconvert
load in the runner's process, and hands it to papermill through the engine registered here.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from user_failure_stats.config import Settings

KERNEL_NAME = "python3"
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
ENGINE_NAME = "user_failure_stats"


@contextmanager
def kernel_environment(settings: Settings, **extra: str):
    """Put the settings (and ``extra``) into the environment the kernel inherits, then restore it.

    The database URL reaches the notebook this way, never as a papermill parameter (those
    are written into the executed notebook).
    """
    values = settings.as_environment() | extra
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_kernel(cwd: Path):
    """Launch the report's kernel now and return its manager; it inherits the environment.

    The kernel's chatter (start-up notices, complaints while it is shut down after a signal)
    is not for the user: its stderr goes to /dev/null and it logs errors only.
    """
    import subprocess

    from jupyter_client import AsyncKernelManager
    from jupyter_core.utils import run_sync

    manager = AsyncKernelManager(kernel_name=KERNEL_NAME)
    try:
        # start_kernel passes these on to the kernel's launch (its documented Popen arguments).
        run_sync(manager.start_kernel)(
            extra_arguments=KERNEL_ARGUMENTS, cwd=str(cwd), stderr=subprocess.DEVNULL
        )
    except BaseException:  # a signal between the launch and here must not leave it running
        stop_kernel(manager)
        raise
    return manager


def stop_kernel(manager) -> None:
    """Kill the kernel if it still runs.

    Once papermill has it, nbclient stops it whatever happens (see :func:`register_engine`);
    this covers a failure or a signal before that.
    """
    from jupyter_core.utils import run_sync

    try:
        if manager.has_kernel:
            run_sync(manager.shutdown_kernel)(now=True)
    except Exception:  # noqa: BLE001, S110 - already gone
        pass


def register_engine() -> str:
    """Register papermill's nbclient engine for a kernel the runner started; return its name.

    papermill hands ``km`` to nbclient, which then leaves the kernel running (it is not
    its own). This engine asks nbclient to clean up after it as usual, so a run that ends,
    fails or is interrupted stops the kernel and closes its channels.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger

    class StartedKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man,
            kernel_name,
            km=None,
            log_output=False,
            stdout_file=None,
            stderr_file=None,
            start_timeout=60,
            execution_timeout=None,
            **kwargs,
        ):
            for unused in ("input_path", "timeout", "startup_timeout"):
                kwargs.pop(unused, None)
            client = PapermillNotebookClient(
                nb_man,
                km=km,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
                **kwargs,
            )
            return client.execute(cleanup_kc=True)

    papermill_engines.register(ENGINE_NAME, StartedKernelEngine)
    return ENGINE_NAME
