"""The ``check`` command's steps, as a generator the command only prints.

Each step is one line: ``ok`` or ``warn`` with what was found; the first failure is yielded
as ``fail`` and then raised, so nothing after it runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from user_failure_stats import coerce, database, inspection, notify, own_reports, pipeline, queries
from user_failure_stats.errors import ConfigError, DatabaseError, UserFailureStatsError
from user_failure_stats.formats import elapsed_ms, format_percent
from user_failure_stats.params import Parameters
from user_failure_stats.publish import probe
from user_failure_stats.settings import Settings
from user_failure_stats.store import leftovers
from user_failure_stats.targets import describe
from user_failure_stats.window import Window


@dataclass(frozen=True)
class Step:
    """One step's result; ``status`` is ``ok``, ``warn`` (it works, but look) or ``fail``."""

    name: str
    status: str
    detail: str


def run_checks(settings: Settings, params: Parameters, window: Window) -> Iterator[Step]:
    """Check the output directory, database, window's query, data and delivery, in that order."""
    at = {"step": "output directory"}  # the step under way, named by its failure
    engine = None
    try:
        yield _output_dir_step(Path(settings.output_dir))
        at["step"] = "database reachable"
        engine = database.make_engine(settings)
        yield from _database_steps(engine, settings, at)
        yield from _window_steps(engine, window, params, at)
        at["step"] = "publish target"  # in the order a run does its work
        yield _publish_step(settings, params)
        at["step"] = "notifications"
        yield _notify_step(settings, params)
    except UserFailureStatsError as exc:
        yield Step(at["step"], "fail", str(exc))
        raise
    finally:
        if engine is not None:
            engine.dispose()


def _database_steps(engine, settings: Settings, at: dict) -> Iterator[Step]:
    """The server, the tables and columns, the role's rights, the index."""
    at["step"] = step = "database reachable"
    began = time.perf_counter()
    version = database.server_version(engine, schema=False)  # the next step says more
    yield Step(step, "ok", f"{version} ({elapsed_ms(began)})")
    at["step"] = step = "tables and columns"
    missing = inspection.missing_columns(engine)
    if missing:
        raise DatabaseError(f"missing in the database: {', '.join(missing)}")
    unreadable = inspection.unreadable_columns(engine)
    if unreadable:
        raise DatabaseError(f"permission denied: the role cannot read {', '.join(unreadable)}")
    created_on = inspection.describe_types(inspection.column_types(engine), settings.db_timezone)
    detail = f'public.calllog and public."user" have the columns the query needs; {created_on}'
    yield Step(step, "ok", detail)
    at["step"] = step = "read-only role"
    writes = inspection.write_privileges(engine)
    if writes:
        why = (
            "the tool only reads, and its sessions are read-only by default, but only a role "
            "limited to SELECT guarantees it (see the README's 'Point it at your database')"
        )
        yield Step(step, "warn", f"the role can {', '.join(writes)}; {why}")
    else:
        yield Step(step, "ok", 'the role can only read public.calllog and public."user"')
    facts = inspection.table_facts(engine)
    hidden = [database.table_name(t) for t, (_, active) in facts.items() if active]
    if hidden:
        yield Step(
            "row-level security",
            "warn",
            f"on for {' and '.join(sorted(hidden))}: the counts cover only the rows this role "
            "may see; use a role that bypasses it (BYPASSRLS) to count every call",
        )
    at["step"] = step = "index"
    indexes = inspection.created_on_indexes(engine)
    if facts.get("calllog", ("r",))[0] == "v":
        yield Step(
            step,
            "ok",
            "public.calllog is a view: indexes belong on the tables it reads (the window "
            "query's plan shows which one it uses)",
        )
    elif indexes:
        yield Step(step, "ok", f"{', '.join(indexes)} on public.calllog (created_on)")
    elif facts.get("calllog", ("r",))[0] == "p":
        yield _partitions_step(step, *inspection.indexed_partitions(engine))
    else:
        detail = "no index on public.calllog (created_on), so every report reads the whole table"
        yield Step(step, "warn", f"{detail}; create one: {inspection.CREATE_INDEX_SQL}")


def _window_steps(engine, window: Window, params: Parameters, at: dict) -> Iterator[Step]:
    """The window's query and its plan, the data's quality, the analysis."""
    at["step"] = step = "window query"
    plan = inspection.query_plan(engine, window)
    began = time.perf_counter()
    data = pipeline.compute(engine, window, params)
    for note in data.notes:
        yield Step(step, "warn", note)
    counts = data.counts.current
    if counts.empty:
        raise ConfigError("no sessions in the window: check start/end, timezone and DB_TIMEZONE")
    sessions = f"{int(counts['total_sessions'].sum()):,} sessions from {len(counts):,} users"
    yield Step(step, "ok", f"{sessions} ({elapsed_ms(began)}; plan: {plan})")
    at["step"] = step = "data quality"
    quality = queries.fetch_data_quality(engine, window)
    duplicates = data.counts.duplicate_users
    detail = (
        f"{quality['rows_without_session_id']:,} rows without session_id (not sessions), "
        f"{quality['sessions_with_empty_sid']:,} sessions with an empty exotel_call_sid "
        f"(counted as successes), {quality['sessions_without_user_id']:,} without user_id"
    )
    if duplicates:
        detail += (
            f", {duplicates:,} user ids with more than one row in "
            'public."user" (each session counted once, under the first name)'
        )
    if quality["sessions_with_empty_sid"] or duplicates:
        yield Step(step, "warn", f"{detail}: suspicious")
    else:
        yield Step(step, "ok", detail)
    at["step"] = "analysis"
    summary = data.summary
    rate = f"overall failure rate {format_percent(summary.overall_failure_rate)}"
    yield Step("analysis", "ok", f"{rate} over {summary.total_users:,} users")


def _partitions_step(step: str, partitions: int, indexed: int) -> Step:
    """The index step for a partitioned ``calllog``: every partition needs its index."""
    if partitions and indexed == partitions:
        return Step(
            step,
            "ok",
            f"each of the {partitions:,} partitions of public.calllog has an index on created_on",
        )
    return Step(
        step,
        "warn",
        f"{partitions - indexed:,} of the {partitions:,} partitions of public.calllog have no "
        "index on created_on, so reports read them whole; create one on the partitioned "
        f"table, which reaches every partition: {inspection.CREATE_PARTITIONED_INDEX_SQL}",
    )


def _publish_step(settings: Settings, params: Parameters) -> Step:
    step = "publish target"
    if not params.policy.publish:
        return Step(step, "ok", "none: reports stay in the output directory (see --publish)")
    target = settings.publish_target(params.policy.publish)
    began = time.perf_counter()
    made_in = probe(target)  # writes and removes a file, as a run would: or PublishError
    keys = ", ".join(sorted(settings.storage)) or "none set"
    link = f"; readers open {describe(target.link_base)}" if target.link_base else ""
    if made_in is not None:  # a local folder to be made: check makes none
        detail = f"will be created in {made_in}, which is writable; storage settings: {keys}"
        return Step(step, "ok", f"{describe(target.url)} ({detail}){link}")
    probed = f"a probe file written and removed, {elapsed_ms(began)}; storage settings: {keys}"
    return Step(step, "ok", f"{describe(target.url)} writable ({probed}){link}")


def _notify_step(settings: Settings, params: Parameters) -> Step:
    urls = notify.parse_urls(settings.notify_urls or "")
    mode = notify.resolve_mode(params.policy.notify, urls)
    when = {"always": "after every run", "alert": "on alerts", "never": "never"}[mode]
    detail = notify.describe(urls) + ("" if not urls else f"; sent {when} (--notify {mode})")
    return Step("notifications", "ok", detail)


def _output_dir_step(output_dir: Path) -> Step:
    step = "output directory"
    coerce.folder_path(output_dir, step)
    if output_dir.exists() and not os.access(output_dir, os.W_OK | os.X_OK):
        return Step(step, "warn", f"{output_dir} is not writable: run cannot write there")
    if (problem := own_reports.folder_problem(output_dir)) is not None:
        return Step(step, "warn", problem)
    left = leftovers(output_dir)
    if left:
        names = ", ".join(p.name for p in left[:4]) + (", ..." if len(left) > 4 else "")
        detail = f"{output_dir} holds {len(left)} files or folders that killed runs left ({names})"
        return Step(step, "warn", f"{detail}; the next run removes them")
    where = "exists" if output_dir.exists() else "will be created"
    return Step(step, "ok", f"{output_dir} ({where}; nothing left by killed runs)")
