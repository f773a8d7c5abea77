"""The command line: ``user-failure-stats run | check | demo | prune``.

A thin layer: it parses arguments, calls the package, and turns any
:class:`~user_failure_stats.errors.UserFailureStatsError` into one line on stderr and an
exit code (a traceback only with ``--verbose``). The arguments are in ``arguments``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

from user_failure_stats import streams
from user_failure_stats.arguments import DEMO_DATA_DIR, PROG, build_parser, choose_parameters
from user_failure_stats.errors import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_UNEXPECTED,
    Interrupted,
    UserFailureStatsError,
)
from user_failure_stats.formats import elapsed_ms
from user_failure_stats.text import visible

# What stops a command, cleaning up after itself: a service manager, Ctrl-C, a closed terminal.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def echo(text: str, *, err: bool = False) -> None:
    """Print ``text`` on stdout (stderr with ``err``), control characters shown as escapes.

    A terminal never receives a raw escape sequence, carriage return or bidi override.
    """
    safe = "\n".join(visible(line) for line in str(text).split("\n"))
    print(safe, file=sys.stderr if err else sys.stdout, flush=True)


def cmd_run(args) -> int:
    """The ``run`` command (see ``arguments.RUN_HELP``)."""
    from user_failure_stats.settings import load_settings

    settings = load_settings(args.env_file)
    params = choose_parameters(args, settings)
    return _report(args, params, settings).exit_code


def _report(args, params, settings):
    """Run the reports ``args`` ask for; print each, then warnings, alerts and failures."""
    from user_failure_stats.runner import print_result, run_reports

    def show(result, link, notified) -> None:
        for note in result.notes:
            echo(f"{PROG}: warning: {note}", err=True)
        if args.quiet:
            echo(" ".join(visible(str(p)) for p in result.paths))  # one line, whatever the names
            return
        print_result(result)
        if link is not None:
            echo(f"Published: {link}")
        if notified:
            echo(f"Notified: {', '.join(notified)}")

    outcome = run_reports(
        params,
        settings,
        args.output_dir,
        now=args.now,
        each=getattr(args, "each", None),
        progress=sys.stderr.isatty() and not args.quiet,
        on_result=show,
    )
    pairs = list(zip(outcome.results, outcome.verdicts, strict=True))
    for result, judged in pairs:  # a scheduled job must notice a call log that stopped filling
        if judged.empty:
            echo(
                f"{PROG}: warning: no sessions in {result.window.describe()}: is the call log "
                "still being written?",
                err=True,
            )
    for result, judged in pairs:
        if judged.above:
            echo(f"{PROG}: alert: {judged.alert} for {result.window.describe()}", err=True)
    for failure in outcome.failures:
        echo(f"{PROG}: error: {failure} (the report was written)", err=True)
    return outcome


def cmd_check(args) -> int:
    """The ``check`` command (see ``arguments.CHECK_HELP``)."""
    from user_failure_stats import database
    from user_failure_stats.checks import run_checks
    from user_failure_stats.params import resolve_window
    from user_failure_stats.runner import refuse_shown_secrets
    from user_failure_stats.settings import load_settings

    try:
        settings = load_settings(args.env_file)
        params = choose_parameters(args, settings)
        window = resolve_window(params, settings.db_timezone, args.now)
        settings.require_db_url()
        refuse_shown_secrets(params, settings)  # as run would
    except UserFailureStatsError as exc:
        echo(f"[FAIL] configuration: {exc}")
        raise
    echo(
        f"[ok]   configuration: database {database.describe(settings.db_url)}; "
        f"window {window.describe()}; {settings.describe_source()}"
    )
    for step in run_checks(settings, params, window):
        echo(f"{CHECK_LABELS[step.status]} {step.name}: {step.detail}")
    return EXIT_OK


CHECK_LABELS = {"ok": "[ok]  ", "warn": "[warn]", "fail": "[FAIL]"}


def cmd_demo(args) -> int:
    """The ``demo`` command (see ``arguments.DEMO_HELP``)."""
    from dataclasses import replace

    from user_failure_stats import demo
    from user_failure_stats.settings import PROJECT_ROOT, load_settings

    # Synthetic data never goes to the real publish target or channels: only --publish.
    settings = replace(load_settings(args.env_file), publish_url=None, notify_urls=None)
    params = choose_parameters(args, replace(settings, start_date=None, end_date=None))
    data_dir = (args.data_dir or PROJECT_ROOT / DEMO_DATA_DIR).absolute()
    say = (lambda text: None) if args.quiet else echo
    say(f"Starting the demo PostgreSQL in {data_dir} ...")
    server = demo.start_server(data_dir)
    url = server.get_uri()
    began = time.perf_counter()
    if demo.load_demo_data(url):
        say(f"Loaded {demo.DEMO_CALLS:,} synthetic calls ({elapsed_ms(began)}).")
    else:
        say("Reusing the demo data loaded earlier.")
    if args.serve:
        return _serve(server, url)
    settings = replace(settings, db_url=url, db_timezone="UTC")
    outcome = _report(args, params, settings)
    results = outcome.results
    if not args.quiet:
        echo(f"\nOpen the report: {results[-1].html.resolve()}")
        if results[-1].index is not None:
            echo(f"All reports: {results[-1].index.resolve()}")
    return outcome.exit_code


def _serve(server, url: str) -> int:
    """Keep the demo database running until Ctrl-C or SIGTERM; then stop it."""
    echo(
        "The demo PostgreSQL is running. To use it with check, run, make lab or the endpoint, "
        "put these lines in .env (or export them):\n"
        f"DB_URL={url}\nDB_TIMEZONE=UTC\n"
        "Press Ctrl-C to stop it."
    )
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        server.cleanup()
        echo("Stopped the demo PostgreSQL.")
    return EXIT_OK


def cmd_prune(args) -> int:
    """The ``prune`` command (see ``arguments.PRUNE_HELP``)."""
    from user_failure_stats import coerce, own_reports, retention, store
    from user_failure_stats.settings import load_settings

    keep_days = coerce.whole_number(args.keep_days, "keep_days", 1)
    output_dir = args.output_dir or load_settings(args.env_file).output_dir
    planned = store.prune(output_dir, keep_days, dry_run=True)
    sizes = {path: _size(path) for path in planned}
    files = planned if args.dry_run else store.prune(output_dir, keep_days)
    if (problem := own_reports.problem(output_dir)) is not None:
        echo(f"{PROG}: warning: {visible(problem)}", err=True)
    age = f"generated more than {_count(keep_days, 'day')} ago"
    if not files:
        echo(f"No reports {age} in {visible(str(output_dir))}.")
        return EXIT_OK
    reports = sum(path.name.endswith(".json") for path in files)
    size = retention.size_text(sum(sizes.get(path, 0) for path in files))
    done = "Would remove" if args.dry_run else "Removed"
    counts = f"{_count(len(files), 'file')} of {_count(reports, 'report')}"
    echo(f"{done} {counts} {age}, freeing {size}:")
    echo("\n".join(f"  {visible(str(path))}" for path in files))
    return EXIT_OK


def cmd_serve(args) -> int:
    """The ``serve`` command (see ``arguments.SERVE_HELP``): until Ctrl-C or SIGTERM."""
    from user_failure_stats import wsgi
    from user_failure_stats.settings import load_settings

    settings = load_settings(args.env_file)
    settings.require_db_url()
    # One line per request on stdout; what goes wrong (the endpoint's and waitress's warnings,
    # "Task queue depth is 1" when every thread is busy) on stderr. Each line escaped.
    requests = logging.StreamHandler(sys.stdout)
    requests.addFilter(lambda record: record.levelno < logging.WARNING)
    problems = logging.StreamHandler(sys.stderr)
    problems.setLevel(logging.WARNING)
    for handler in (requests, problems):
        handler.setFormatter(VisibleFormatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[requests, problems], force=True)
    wsgi.serve(
        settings,
        args.host,
        args.port,
        lambda url: echo(f"Serving {url} (key: ENDPOINT_KEY); Ctrl-C stops it."),
    )
    raise KeyboardInterrupt  # waitress returns only once interrupted: say so, as other commands


class VisibleFormatter(logging.Formatter):
    """A log formatter whose lines show control characters as escapes (see ``text.visible``)."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record``, then make every line of it visible."""
        return "\n".join(visible(line) for line in super().format(record).split("\n"))


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _size(path: Path) -> int:
    try:
        return path.stat(follow_symlinks=False).st_size
    except OSError:
        return 0


COMMANDS = {
    "run": cmd_run,
    "check": cmd_check,
    "demo": cmd_demo,
    "prune": cmd_prune,
    "serve": cmd_serve,
}


def _handle_signals() -> dict:
    """Make SIGTERM, SIGINT and SIGHUP interrupt the run so that it cleans up after itself.

    During the clean-up stderr goes to /dev/null; one line follows on the original stderr.
    """
    received: dict = {}

    def interrupt(signum, frame):
        received["signal"] = signum
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # let the clean-up finish
        sys.stderr.flush()
        received["stderr"] = os.dup(2)
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 2)
        os.close(quiet)
        raise KeyboardInterrupt

    for sig in STOP_SIGNALS:
        signal.signal(sig, interrupt)
    return received


def _print_traceback() -> None:
    """Print the current exception's traceback, its text escaped like every other line."""
    import traceback

    echo(traceback.format_exc().rstrip("\n"), err=True)


def _stopped(args, exc: KeyboardInterrupt) -> str:
    """Say what an interrupted command leaves: a report written, published, or nothing."""
    if args.command == "prune":
        return "the reports removed so far are gone; run prune again to finish"
    if args.command in ("check", "serve") or getattr(args, "serve", False):
        return "stopped"
    if not isinstance(exc, Interrupted):
        return "the unfinished report was not published"
    before = ""
    if exc.done:
        stand = "report before it stands" if len(exc.done) == 1 else "reports before it stand"
        before = f"{len(exc.done):,} {stand} (the last: {exc.done[-1]}); "
    if exc.written is None:
        return before + "the unfinished report was not published"
    done = f"the report was written ({exc.written})"
    if exc.link is None:
        return f"{before}{done} but may not be published or announced"
    return f"{before}{done} and published ({exc.link}) but may not be announced"


def entry() -> None:
    """The ``user-failure-stats`` command: :func:`main`, then exit with its code.

    Once the work is done, SIGTERM, SIGINT and SIGHUP are ignored: Python restores their default
    action while it shuts down (most of a second after a large run), when a signal would end
    a finished, published run with no word, as if it had failed.
    """
    code = main()
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``user-failure-stats``: returns the exit code.

    Closed standard streams are opened on ``/dev/null``; output that cannot be written (a full
    disk) is one line on stderr, and exit 2 unless the command's own code says more. A reader
    that went away (``| head``) ends it with 141, quietly, as other tools do.
    """
    with streams.guard() as (out, _):
        code = _command(argv)
        if isinstance(out.failure, BrokenPipeError):
            return 128 + signal.SIGPIPE
        if out.failure is not None:
            reason = out.failure.strerror or out.failure.__class__.__name__
            echo(f"{PROG}: error: cannot write to the standard output: {reason}", err=True)
            return code if code != EXIT_OK else EXIT_BAD_INPUT
    return code


def _command(argv: list[str] | None) -> int:
    """Run the command ``argv`` names; return its exit code (one line on stderr if failed)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    received = _handle_signals()
    try:
        from user_failure_stats.children import ensure_open_files
        from user_failure_stats.libpq_files import check_openssl

        check_openssl()  # before anything imports ssl, which reads it
        ensure_open_files()
        return COMMANDS[args.command](args)
    except UserFailureStatsError as exc:
        if args.verbose:
            _print_traceback()
        for note in getattr(exc, "__notes__", ()):  # a failure notice that was not sent
            echo(f"{PROG}: error: {note}", err=True)
        echo(f"{PROG}: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        signum = received.get("signal", signal.SIGINT)
        line = f"{PROG}: interrupted by {signal.Signals(signum).name}: {_stopped(args, exc)}"
        os.write(received.get("stderr", 2), (visible(line) + "\n").encode())
        return 128 + signum
    except Exception as exc:  # noqa: BLE001 - one line unless --verbose
        if args.verbose or os.environ.get("USER_FAILURE_STATS_DEBUG"):
            _print_traceback()
        echo(
            f"{PROG}: unexpected error: {exc.__class__.__name__} (run with --verbose for details)",
            err=True,
        )
        return EXIT_UNEXPECTED
