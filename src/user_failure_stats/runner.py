"""The runner: execute the notebook with papermill, render it, publish the files.

All three outputs are written into a hidden staging folder inside the output directory and
moved into place only when every step has succeeded, so a failed run publishes nothing.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from user_failure_stats import (
    coerce,
    console,
    database,
    kernel,
    messages,
    notify,
    own_reports,
    render,
    store,
)
from user_failure_stats.errors import (
    ConfigError,
    DeliveryError,
    Interrupted,
    NotebookError,
    OutputError,
    UserFailureStatsError,
)
from user_failure_stats.files import is_regular, others_could_write
from user_failure_stats.names import csv_name, html_name, notebook_name, summary_name
from user_failure_stats.params import Parameters, resolve_window
from user_failure_stats.publish import missing, publish
from user_failure_stats.settings import Settings
from user_failure_stats.targets import Target, check_available
from user_failure_stats.text import visible
from user_failure_stats.verdict import Verdict, exit_code, verdict
from user_failure_stats.window import Window, split, window_for

if TYPE_CHECKING:
    from user_failure_stats.stats import Statistics
    from user_failure_stats.summary import RunSummary

NOTEBOOK = Path(str(files("user_failure_stats") / "data" / "user_failure_rates.ipynb"))


@dataclass(frozen=True)
class RunResult:
    """What a run wrote and found.

    ``index`` is None when it could not be updated; ``previous`` holds the statistics of the
    previous window of the same length; ``flagged`` and ``worsened`` the first ``top_n``
    flagged users and users who got worse; ``summary_file`` the run's hidden JSON summary
    (the index reads it); ``pruned`` the reports older than ``keep_days``, removed after it;
    ``listed`` the reports the index lists (publishing copies those the target lacks).
    """

    csv: Path
    html: Path
    notebook: Path
    index: Path | None
    window: Window
    summary: Statistics
    previous: Statistics
    flagged: list[dict]
    worsened: list[dict]
    notes: tuple[str, ...] = ()
    summary_file: Path | None = None
    pruned: tuple[str, ...] = ()
    listed: tuple[RunSummary, ...] = ()

    @property
    def paths(self) -> list[Path]:
        """The files written, in the order they are listed to the user."""
        return [p for p in (self.html, self.csv, self.notebook, self.index) if p is not None]


def run_report(
    params: Parameters,
    settings: Settings,
    output_dir: Path | None = None,
    *,
    now=None,
    window: Window | None = None,
    progress: bool = False,
    notebook: Path = NOTEBOOK,
    keep_days: int | None = None,
) -> RunResult:
    """Execute the report notebook for ``params`` and publish CSV, HTML and notebook.

    ``settings`` reach the kernel through its environment, never as notebook parameters;
    ``output_dir`` defaults to ``settings.output_dir``; ``window``, unless the caller resolved
    it (``--each``), is seen from ``now``. Reports older than ``keep_days`` days are then
    removed (``store.prune``); failing that is only a warning.

    Raises:
        ConfigError: Bad parameters or output directory (checked before anything runs).
        DatabaseError: The notebook could not reach or query the database.
        NotebookError: The notebook failed for another reason, or could not be rendered.
    """
    refuse_shown_secrets(params, settings, output_dir)
    window = window or resolve_window(params, settings.db_timezone, now)
    if keep_days is not None:
        keep_days = coerce.whole_number(keep_days, "keep_days", 1)
    # The notebook gets the resolved bounds, so the executed notebook records them.
    params = replace(params, start=window.start, end=window.end, window=None)
    if not params.export:
        raise ConfigError(
            "export: false writes no CSV, and run is for writing reports: remove it from the "
            "parameters (it is for executing the notebook with papermill without files)",
            field="export",
        )
    settings.require_db_url()
    if not Path(notebook).is_file():
        raise NotebookError(f"report notebook {notebook} not found")
    output_dir = store.prepare(Path(output_dir or settings.output_dir).absolute())
    if (problem := own_reports.folder_problem(output_dir)) is not None:
        print(f"warning: {visible(problem)}", file=sys.stderr)
    store.leftovers(output_dir, remove=True)  # what killed runs left behind
    claim = folder = published = None
    try:  # a signal at any point below leaves neither the lock nor the staging folder
        claim = store.reserve_stamp(output_dir)
        folder = store.staging_folder(output_dir, claim)
        files, found = _write_report(notebook, folder, claim.stamp, params, settings, progress)
        published = store.commit(output_dir, files)
        pruned = _prune(output_dir, keep_days) if keep_days is not None else ()
        index_path, listed = _update_index(output_dir)
    except OutputError as exc:  # name the file the user knows, not the hidden staging copy
        if folder is None:
            raise
        raise OutputError(str(exc).replace(str(folder), str(output_dir))) from None
    except KeyboardInterrupt:
        if published is None:
            raise
        raise Interrupted(published[1]) from None  # the report stands
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        if claim is not None:
            claim.release()
    csv_path, html_path, nb_path, summary_path = published
    return RunResult(
        csv_path,
        html_path,
        nb_path,
        index_path,
        window,
        found.summary,
        found.previous,
        list(found.flagged),
        list(found.worsened),
        found.notes,
        summary_path,
        pruned=pruned,
        listed=tuple(listed),
    )


def _write_report(notebook, folder, stamp, params, settings, progress):
    """Execute and render the report in its staging folder; return its files and summary."""
    executed = folder / notebook_name(stamp)
    # A database that cannot be reached (or is too old) fails here, before a kernel starts.
    database.server_version(database.make_engine(settings))
    kernel.execute(
        notebook,
        executed,
        params.as_notebook_parameters() | {"output_dir": str(folder), "stamp": stamp},
        settings.as_environment(),
        progress=progress,
    )
    html = render.render_html(executed, folder / html_name(stamp), params.title)
    csv = folder / csv_name(stamp)
    found = store.staged_summary(folder, stamp)
    if not csv.is_file():
        raise NotebookError("the report notebook did not write its CSV")
    return [csv, html, executed, folder / summary_name(stamp)], found


def _update_index(output_dir: Path) -> tuple[Path | None, list[RunSummary]]:
    # The report is already published: a failure here is reported, not fatal.
    try:
        found = store.update_index(output_dir)
        if (problem := own_reports.problem(output_dir)) is not None:
            print(f"warning: {visible(problem)}", file=sys.stderr)
        return found
    except (OSError, OutputError) as exc:
        print(f"warning: could not update the reports index: {visible(str(exc))}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - whatever it is, the report stands
        reason = exc.__class__.__name__
        print(f"warning: could not update the reports index: {reason}", file=sys.stderr)
    return None, []


def _prune(output_dir: Path, keep_days: int) -> tuple[str, ...]:
    # The report is already published: a failure to remove old ones is reported, not fatal.
    try:
        removed = store.prune(output_dir, keep_days, index=False)  # the run rebuilds it next
        return tuple(path.name for path in removed)
    except (OSError, UserFailureStatsError) as exc:
        print(f"warning: could not remove old reports: {visible(str(exc))}", file=sys.stderr)
    return ()


def publish_result(result: RunResult, target: Target) -> str:
    """Publish a run: its HTML, CSV and summary, then the index; return the report's link.

    Reports the local index lists but the target lacks are copied too, so every link of the
    published index works; report files removed here (``store.pending_removals``) go there.

    Raises:
        PublishError: Something could not be copied; the local report stands.
    """
    output_dir = result.html.parent
    files = [result.html, result.csv]
    if result.summary_file is not None:
        files.append(result.summary_file)
    if result.index is not None:
        names = (html_name, csv_name, summary_name)
        listed = [name(entry.stamp) for entry in result.listed for name in names]
        wanted = [name for name in listed if name not in {f.name for f in files}]
        files += [output_dir / name for name in missing(target, wanted)]
        files.append(result.index)  # last: it links to the others
    # Never a link to a file elsewhere, nor a file another user wrote or could have changed.
    left_out = [path for path in files if others_could_write(path) or not is_regular(path)]
    for path in left_out:
        if os.path.lexists(path):
            why = "a link, another user's file, or one others may write"
            print(f"warning: not published: {visible(str(path))} ({why})", file=sys.stderr)
    files = [path for path in files if path not in left_out]
    gone = store.pending_removals(output_dir)
    problem = store.pending_problem(output_dir)
    if problem is not None:
        print(f"warning: {visible(problem)}", file=sys.stderr)
    links = publish(target, files, remove=gone)
    try:
        if gone:
            store.forget_published(output_dir, gone)
    except OutputError as exc:  # published: the next publish removes them again, harmlessly
        reason = visible(str(exc))
        print(f"warning: could not note what the publish target removed: {reason}", file=sys.stderr)
    return links[0]


@dataclass(frozen=True)
class Delivery:
    """Where a run's report goes after it is written, and whom to tell.

    ``notify_urls`` hold secrets (never shown); ``mode`` is ``always``, ``alert`` or ``never``.
    """

    target: Target | None = None
    notify_urls: tuple[str, ...] = field(default=(), repr=False)
    mode: str = "never"


def refuse_shown_secrets(params: Parameters, settings: Settings, output_dir=None) -> None:
    """ConfigError when the title, output folder or publish target would show a secret."""
    settings.refuse_secrets(
        title=params.given_title,
        output_dir=output_dir or settings.output_dir,
        publish=params.policy.publish,
    )


def delivery_for(params: Parameters, settings: Settings) -> Delivery:
    """Return the delivery that ``params`` and ``settings`` ask for, checked before any work.

    Raises:
        ConfigError: A bad ``NOTIFY_URLS``, ``--notify always|alert`` without
            ``NOTIFY_URLS``, or a publish target whose package is not installed.
    """
    target = settings.publish_target(params.policy.publish) if params.policy.publish else None
    if target is not None:
        check_available(target)
    urls = notify.parse_urls(settings.notify_urls or "")
    return Delivery(target, urls, notify.resolve_mode(params.policy.notify, urls))


def deliver(
    result: RunResult, delivery: Delivery, judged: Verdict | None = None
) -> tuple[str | None, list[str], list[DeliveryError]]:
    """Publish the run's report, then notify; a failure of one does not stop the other.

    ``judged`` defaults to the summary's verdict with no ``fail_above``. Returns the link
    (None when not published), the services notified (as :func:`notify.mask` shows them;
    none unless all were) and the failures.
    """
    judged = judged or verdict(result.summary)
    link, notified, failures = None, [], []
    try:
        if delivery.target is not None:
            try:
                link = publish_result(result, delivery.target)
            except DeliveryError as exc:
                failures.append(exc)
        notified = _announce(result, delivery, judged, link, failures)
    except KeyboardInterrupt:
        raise Interrupted(result.html, link) from None
    return link, notified, failures


def _announce(result, delivery, judged, link, failures) -> list[str]:
    """Send the run's message when ``delivery.mode`` asks; return the services it reached.

    A failure is added to ``failures`` (and none is returned).
    """
    reason = judged.alert
    if failures:  # a failed publish is an alert: the team should know the link is missing
        reason = "; ".join([*([reason] if reason else []), f"not published: {failures[0]}"])
    if notify.should_notify(delivery.mode, reason is not None):
        # Published on the web: the link says where the report is, and the email carries the
        # CSV only. Otherwise the email carries the report itself, and the CSV.
        web = link is not None and link.lower().startswith(("https://", "http://"))
        csv_link = f"{link.rsplit('/', 1)[0]}/{quote(result.csv.name)}" if web else None
        message = messages.message(
            result.window,
            result.summary,
            result.previous if result.previous.total_sessions else None,
            result.flagged,
            result.worsened,
            link=link or str(result.html),
            csv_link=csv_link or str(result.csv),
            alert=reason,
        )
        attachments = [result.csv] if web else [result.html, result.csv]
        try:
            return notify.send(delivery.notify_urls, message, attachments)
        except DeliveryError as exc:
            failures.append(exc)
    return []


@dataclass(frozen=True)
class Outcome:
    """What a run of one or more reports wrote, found and could not deliver.

    ``results`` are in window order; ``verdicts`` and ``links`` (None when not published)
    match them; ``failures`` are the deliveries (publishing or notifying) that failed.
    """

    results: tuple[RunResult, ...]
    verdicts: tuple[Verdict, ...]
    links: tuple[str | None, ...]
    failures: tuple[DeliveryError, ...]
    exit_code: int


def run_reports(
    params: Parameters,
    settings: Settings,
    output_dir: Path | str | None = None,
    *,
    now: str | None = None,
    each: str | None = None,
    progress: bool = False,
    on_result: Callable[[RunResult, str | None, list[str]], None] | None = None,
) -> Outcome:
    """Run one report, or one per local day or week (``each``); publish and notify each.

    The delivery is checked before any work. When a report fails, a failure notice is sent
    (unless notifications are off); a notice that could not be sent is added to the
    exception as a note. ``now`` resolves a relative window as if it were this moment;
    ``on_result`` is called with each report, its link and the services notified (see
    :func:`deliver`) once it is delivered.

    Raises:
        UserFailureStatsError: A report could not be written (see :func:`run_report`).
    """
    refuse_shown_secrets(params, settings, output_dir)
    window = resolve_window(params, settings.db_timezone, now)
    delivery = delivery_for(params, settings)  # bad URLs stop here, before any work
    pieces = split(window.start, window.end, each) if each else [(window.start, window.end)]
    keep_days = params.policy.keep_days
    results, verdicts, links, failures = [], [], [], []
    try:
        for start, end in pieces:
            piece = window_for(start, end, settings.db_timezone)
            result = run_report(
                params, settings, output_dir, window=piece, progress=progress, keep_days=keep_days
            )
            judged = verdict(result.summary, params.policy.fail_above)
            link, notified, errors = deliver(result, delivery, judged)
            results.append(result)
            verdicts.append(judged)
            links.append(link)
            failures += errors
            if on_result is not None:
                on_result(result, link, notified)
    except KeyboardInterrupt as exc:  # the reports delivered before stand: say so
        if not results:
            raise
        written, link = getattr(exc, "written", None), getattr(exc, "link", None)
        raise Interrupted(written, link, tuple(r.html for r in results)) from None
    except UserFailureStatsError as exc:  # a scheduled run that failed is worth a message
        failure = notify_failure(delivery, f"{exc}")
        if failure is not None:
            exc.add_note(failure)
        raise
    code = exit_code(verdicts, len(failures), params.policy.fail_empty)
    return Outcome(tuple(results), tuple(verdicts), tuple(links), tuple(failures), code)


def notify_failure(delivery: Delivery, error: str) -> str | None:
    """Announce a run that failed (unless notifications are off); return a failure line."""
    if delivery.mode == "never":
        return None
    try:
        notify.send_failure(delivery.notify_urls, error)
    except DeliveryError as exc:
        return str(exc)
    return None


def print_result(result: RunResult, stream=None) -> None:
    """Print the console summary and the paths written."""
    stream = stream or sys.stdout
    lines = console.summary_lines(
        result.summary, result.window, result.flagged, result.previous, result.worsened
    )
    lines += ["", "Wrote:"] + [f"  {path}" for path in result.paths]
    if result.pruned:
        lines += ["", "Removed (reports older than the days kept):"]
        lines += [f"  {name}" for name in result.pruned]
    print("\n".join(visible(line) for line in lines), file=stream)
