"""The runner: execute the notebook with papermill, render it, publish the files.

All three outputs are written into a hidden staging folder inside the output directory and
moved into place only when every step has succeeded, so a failed run publishes nothing.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from user_failure_stats import report
from user_failure_stats.config import Parameters, Settings, Window, resolve_window
from user_failure_stats.errors import ERRORS_BY_NAME, ConfigError, NotebookError
from user_failure_stats.index import update_index

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "user_failure_rates.ipynb"
KERNEL_NAME = "python3"
EXECUTION_TIMEOUT_SECONDS = 1800
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
ENGINE_NAME = "user_failure_stats"


@dataclass(frozen=True)
class RunResult:
    """What a run wrote and found.

    Attributes:
        csv: Path of the per-user CSV.
        html: Path of the HTML report.
        notebook: Path of the executed notebook.
        index: Path of the reports index.
        window: The window the report covers.
        summary: The summary statistics (see ``analysis.summary_statistics``).
        previous: The same statistics for the previous window of the same length.
        top: The top-N users, ranked: one dict per row (see ``report.TOP_FIELDS``).
    """

    csv: Path
    html: Path
    notebook: Path
    index: Path | None
    window: Window
    summary: dict
    previous: dict
    top: list[dict]

    @property
    def paths(self) -> list[Path]:
        """The files written, in the order they are listed to the user."""
        return [p for p in (self.html, self.csv, self.notebook, self.index) if p is not None]


def prepare_output_dir(output_dir: Path) -> Path:
    """Create the output directory if needed and check that it can be written."""
    output_dir = Path(output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create output directory {output_dir}: {exc.strerror or exc}"
        ) from None
    if not os.access(output_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"output directory {output_dir} is not writable")
    return output_dir


def reserve_stamp(output_dir: Path, now: datetime | None = None) -> tuple[str, Path]:
    """Claim a run stamp no other run in ``output_dir`` holds or has published.

    The stamp is ``YYYYMMDD_HHMMSS``, with ``_2``, ``_3``... added when another run took the
    same second. A hidden lock file holds the claim until :func:`run_report` ends.

    Returns:
        The stamp and its lock file.
    """
    base = f"{now or datetime.now():%Y%m%d_%H%M%S}"
    for attempt in range(1, 1000):
        stamp = base if attempt == 1 else f"{base}_{attempt}"
        names = (
            report.csv_name(stamp),
            report.html_name(stamp),
            report.notebook_name(stamp),
            report.summary_name(stamp),
        )
        if any((output_dir / name).exists() for name in names):
            continue
        lock = output_dir / f".{stamp}.lock"
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            continue
        except KeyboardInterrupt:  # a signal (see cli) right after the lock was made
            lock.unlink(missing_ok=True)
            raise
        return stamp, lock
    raise NotebookError(f"cannot find a free file name in {output_dir}")


def run_report(
    params: Parameters,
    settings: Settings,
    output_dir: Path | None = None,
    *,
    now=None,
    window: Window | None = None,
    progress: bool = False,
    notebook: Path = NOTEBOOK,
) -> RunResult:
    """Execute the report notebook for ``params`` and publish CSV, HTML and notebook.

    Args:
        params: The validated parameters (window and report options).
        settings: Where the database is; passed to the kernel through its environment,
            never as a notebook parameter.
        output_dir: Where to publish (default: ``settings.output_dir``).
        now: The moment a relative window is seen from (default: now).
        window: The window, when the caller has resolved it (``--each`` does).
        progress: Show papermill's progress bar.
        notebook: The notebook to execute.

    Returns:
        The paths written and the summary the report shows.

    Raises:
        ConfigError: Bad parameters or output directory (checked before anything runs).
        DatabaseError: The notebook could not reach or query the database.
        NotebookError: The notebook failed for another reason, or could not be rendered.
    """
    light_imports()
    window = window or resolve_window(params, settings.db_timezone, now)
    # The notebook gets the resolved bounds, so the executed notebook records them.
    params = replace(params, start=window.start, end=window.end, window=None)
    settings.require_db_url()
    if not Path(notebook).is_file():
        raise NotebookError(f"report notebook {notebook} not found")
    output_dir = prepare_output_dir(Path(output_dir or settings.output_dir))
    lock = staging = None
    try:  # a signal at any point below leaves neither the lock nor the staging folder
        stamp, lock = reserve_stamp(output_dir)
        staging = Path(tempfile.mkdtemp(prefix=f".run-{stamp}-", dir=output_dir))
        executed = staging / report.notebook_name(stamp)
        _execute(notebook, executed, params, settings, staging, stamp, progress)
        html = report.render_html(executed, staging / report.html_name(stamp), params.title)
        csv = staging / report.csv_name(stamp)
        summary_json = staging / report.summary_name(stamp)
        summary, previous, top = _read_summary(summary_json)
        if not csv.is_file():
            raise NotebookError("the report notebook did not write its CSV")
        published = _publish(staging, output_dir, [csv, html, executed, summary_json])
        index_path = _update_index(output_dir)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if lock is not None:
            lock.unlink(missing_ok=True)
    csv_path, html_path, nb_path, _ = published
    return RunResult(csv_path, html_path, nb_path, index_path, window, summary, previous, top)


def light_imports() -> None:
    """Keep nbformat's start-up light: skip an optional IRI checker nothing here uses.

    jsonschema (under nbformat, which papermill and nbconvert import) imports
    ``rfc3987_syntax`` when it is installed (JupyterLab brings it), and that compiles a
    grammar at import: 0.9 s and 16 MB of every run. jsonschema treats it as absent.
    """
    sys.modules.setdefault("rfc3987_syntax", None)


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


def quiet_kernel_manager():
    """Return a kernel manager class that starts the kernel with its stderr on /dev/null.

    Launching is jupyter_client's documented place to start kernels differently. It also
    checks every 10 ms, not 100 ms, whether a killed kernel is gone: a report's kernel is
    killed when its last cell is done, and is gone within milliseconds.
    """
    import subprocess

    from jupyter_client import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            kw.setdefault("stderr", subprocess.DEVNULL)
            return await super()._async_launch_kernel(kernel_cmd, **kw)

        _launch_kernel = _async_launch_kernel

        async def _async_wait(self, pollinterval: float = 0.1) -> None:
            await super()._async_wait(pollinterval=min(pollinterval, 0.01))

    return QuietKernelManager


def start_kernel(cwd: Path):
    """Launch the report's kernel now and return its manager; it inherits the environment.

    The kernel's chatter (start-up notices, complaints while it is shut down after a signal)
    is not for the user: its stderr goes to /dev/null and it logs errors only.
    """
    from jupyter_core.utils import run_sync

    manager = quiet_kernel_manager()(kernel_name=KERNEL_NAME)
    try:
        run_sync(manager.start_kernel)(extra_arguments=KERNEL_ARGUMENTS, cwd=str(cwd))
    except BaseException:  # a signal between the launch and here must not leave it running
        stop_kernel(manager)
        raise
    return manager


def stop_kernel(manager) -> None:
    """Kill the kernel if it still runs (papermill stops it after a run; not after a failure)."""
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


def _execute(notebook, executed, params, settings, staging, stamp, progress) -> None:
    parameters = params.as_notebook_parameters() | {"output_dir": str(staging), "stamp": stamp}
    kernel = None
    try:
        with kernel_environment(settings, **{report.PLOTLYJS_FROM_TEMPLATE: "1"}):
            kernel = start_kernel(cwd=Path(notebook).parent)
        # The kernel boots (0.4 s) while papermill loads (0.2 s) and prepares the notebook,
        # and nbconvert loads in a thread: the parent is idle while the kernel works.
        warm_up = threading.Thread(target=report.prepare_rendering, daemon=True)
        warm_up.start()
        import papermill

        papermill.execute_notebook(
            str(notebook),
            str(executed),
            parameters=parameters,
            engine_name=register_engine(),
            km=kernel,
            kernel_name=KERNEL_NAME,
            progress_bar=progress,
            log_output=False,
            # Save once at the end, not after every cell: the outputs are large.
            request_save_on_cell_execute=False,
            execution_timeout=EXECUTION_TIMEOUT_SECONDS,
            # All outputs are in when the last cell ends: no graceful shutdown to wait for.
            shutdown_kernel="immediate",
        )
        warm_up.join()
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear error
        raise _notebook_error(exc) from None
    finally:
        if kernel is not None:
            stop_kernel(kernel)


def _notebook_error(exc: Exception) -> Exception:
    """Translate a failed execution: the notebook's own errors keep their class and message."""
    papermill_errors = sys.modules.get("papermill.exceptions")
    if papermill_errors and isinstance(exc, papermill_errors.PapermillExecutionError):
        error_class = ERRORS_BY_NAME.get(exc.ename)
        if error_class is not None:
            return error_class(exc.evalue)
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


def _read_summary(path: Path) -> tuple[dict, dict, list[dict]]:
    """Return the summary, the previous window's summary and the top users the notebook wrote."""
    import json

    if not path.is_file():
        raise NotebookError("the report notebook did not write its summary")
    record = json.loads(path.read_text(encoding="utf-8"))

    def restore(values: dict) -> dict:
        return {k: float("nan") if v is None else v for k, v in values.items()}

    return restore(record["summary"]), restore(record["previous"]), record.get("top", [])


def _update_index(output_dir: Path) -> Path | None:
    # The report is already published: a failure here is reported, not fatal.
    try:
        return update_index(output_dir)
    except OSError as exc:
        print(f"warning: could not update the reports index: {exc}", file=sys.stderr)
        return None


def _publish(staging: Path, output_dir: Path, files: list[Path]) -> list[Path]:
    """Move the staged files into ``output_dir``; never overwrite another run's file."""
    published: list[Path] = []
    try:
        for source in files:
            target = output_dir / source.name
            os.link(source, target)  # fails if the name is taken: no silent overwrite
            published.append(target)
    except BaseException as exc:  # an error or a signal: all files or none
        for path in published:
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise NotebookError(f"cannot publish the report into {output_dir}: {exc}") from None
        raise
    return published


def print_result(result: RunResult, stream=None) -> None:
    """Print the console summary and the paths written."""
    stream = stream or sys.stdout
    lines = report.summary_lines(result.summary, result.window, result.top, result.previous)
    lines += ["", "Wrote:"] + [f"  {path}" for path in result.paths]
    print("\n".join(lines), file=stream)
