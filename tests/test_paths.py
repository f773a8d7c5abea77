"""Paths and processes as users have them: relative folders, killed runs, links, full disks."""

import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers import COMMAND, SEED_WINDOW
from tests.helpers import run_cli as cli
from user_failure_stats import files, store
from user_failure_stats.names import csv_name
from user_failure_stats.settings import FROM_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 5, 23, 1, 0, 0)


def published(folder: Path) -> list[str]:
    return sorted(p.suffix for p in folder.iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize("how", ["flag", "setting"])
def test_a_relative_output_dir_is_taken_from_where_the_command_runs(
    notebook_db_url, cli_env, tmp_path, how
):
    before = sorted(p.name for p in (ROOT / "notebooks").iterdir())
    env = cli_env(notebook_db_url)
    args = ["run", *SEED_WINDOW, "-q"]
    if how == "flag":
        args += ["--output-dir", "reports/daily"]
    else:
        (tmp_path / ".env").write_text("OUTPUT_DIR=reports/daily\n")
        args += ["--env-file", ".env"]
    result = cli(args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert published(tmp_path / "reports" / "daily") == [".csv", ".html", ".html", ".ipynb"]
    assert sorted(p.name for p in (ROOT / "notebooks").iterdir()) == before
    for path in result.stdout.split():
        assert Path(path).is_absolute() and Path(path).is_file()


def test_an_empty_output_dir_is_bad_input(cli_env, tmp_path):
    result = cli(
        ["run", *SEED_WINDOW, "--output-dir", ""], cli_env("postgresql://u@h/db"), tmp_path
    )
    assert result.returncode == 2
    assert "--output-dir: must name a folder" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_killed_run_leaves_what_the_next_run_removes_and_check_reports(
    notebook_db_url, cli_env, tmp_path
):
    out = tmp_path / "out"
    env = cli_env(notebook_db_url)
    process = subprocess.Popen(
        [*COMMAND, "run", *SEED_WINDOW, "--output-dir", str(out), "-q"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not list(out.glob(".run-*/*.ipynb")) and time.monotonic() < deadline:
        time.sleep(0.02)  # wait until the run has staged a file, then kill it hard
    process.send_signal(signal.SIGKILL)
    process.wait()
    left = sorted(p.name for p in out.iterdir())
    assert any(name.startswith(".run-") for name in left), left
    assert any(name.endswith(".lock") and name != ".index.lock" for name in left), left

    check = cli(["check", *SEED_WINDOW], {**env, "OUTPUT_DIR": str(out)}, tmp_path)
    line = next(x for x in check.stdout.splitlines() if "output directory" in x)
    assert line.startswith(f"[warn] output directory: {out} holds 2 files or folders")

    result = cli(["run", *SEED_WINDOW, "--output-dir", str(out), "-q"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert [h for h in hidden if not h.startswith(".user_failure_rates_")] == [".index.lock"]
    assert store.leftovers(out) == []


def test_a_living_runs_claim_is_never_a_leftover(tmp_path):
    claim = store.reserve_stamp(tmp_path, NOW)
    folder = store.staging_folder(tmp_path, claim)
    assert store.leftovers(tmp_path, remove=True) == []
    assert claim.path.exists() and folder.exists()
    claim.release()
    assert store.leftovers(tmp_path) == [folder]  # its run has let go of the stamp


def test_the_index_lock_does_not_follow_a_planted_link(notebook_db_url, cli_env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside.txt"
    (out / ".index.lock").symlink_to(outside)
    result = cli(
        ["run", *SEED_WINDOW, "--output-dir", str(out), "-q"], cli_env(notebook_db_url), tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert not outside.exists()
    assert not (out / ".index.lock").is_symlink()
    assert (out / "index.html").is_file()


def test_a_dangling_link_named_like_a_new_file_moves_the_stamp_on(tmp_path):
    (tmp_path / csv_name("20250523_010000")).symlink_to(tmp_path / "nowhere")
    claim = store.reserve_stamp(tmp_path, NOW)
    assert claim.stamp == "20250523_010000_2"
    claim.release()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB file system (tmpfs), mounted for the test: needs root."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_names_the_file_and_exits_2(notebook_db_url, cli_env, tmp_path, tiny_disk):
    with (tiny_disk / "filler").open("wb") as handle:  # leave a few KB: not enough for a run
        handle.write(b"\0" * (2 * 1024 * 1024 - 48 * 1024))
    out = tiny_disk / "reports"
    result = cli(
        ["run", *SEED_WINDOW, "--output-dir", str(out)], cli_env(notebook_db_url), tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"user-failure-stats: error: cannot write {out}/")
    assert ".run-" not in result.stderr  # the file's own name, not its hidden staging copy
    assert result.stderr.rstrip().endswith("No space left on device")
    assert result.stderr.count("\n") == 1
    assert [p.name for p in out.iterdir()] in ([], [".index.lock"])


def test_lock_files_are_opened_without_following_links(tmp_path):
    target = tmp_path / "target"
    link = tmp_path / "link"
    link.symlink_to(target)
    fd = files.open_no_follow(link)
    os.close(fd)
    assert not target.exists() and link.is_file() and not link.is_symlink()


def test_the_kernel_sees_only_the_settings_the_runner_resolved(notebook_db_url, tmp_path):
    # The project's .env says one thing, --env-file another: the report follows --env-file.
    project_env = ROOT / ".env"
    if project_env.exists():
        pytest.skip("the checkout has a .env of its own; not touching it")
    project_env.write_text(
        "DB_URL=postgresql://nobody@127.0.0.1:1/wrong\nDB_TIMEZONE=Asia/Tokyo\n"
        "REPORT_TIMEZONE=Not/AZone\n"
    )
    try:
        chosen = tmp_path / "chosen.env"
        chosen.write_text(f"DB_URL={notebook_db_url}\nDB_TIMEZONE=UTC\n")
        env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "DB_TIMEZONE")}
        env.pop("OUTPUT_DIR", None)
        env.pop(FROM_ENVIRONMENT)  # as a user runs it: the project's .env is there to be read
        args = ["run", *SEED_WINDOW, "--env-file", str(chosen), "--output-dir", "o", "-q"]
        result = cli(args, env, tmp_path)
        assert result.returncode == 0, result.stderr
        check = cli(["check", *SEED_WINDOW, "--env-file", str(chosen)], env, tmp_path)
        assert f"settings from {chosen} and the environment" in check.stdout
    finally:
        project_env.unlink()
    (summary,) = (tmp_path / "o").glob(".user_failure_rates_*.json")
    assert '"db_timezone": "UTC"' in summary.read_text()
    assert '"total_sessions": 341' in summary.read_text()


def test_runs_and_scans_at_once_never_break_each_other(tmp_path):
    # Three "runs" claim, stage and release stamps while two scans look for leftovers (one
    # removing them): no claim fails and no living run loses its lock or staging folder.
    import threading

    stop = time.monotonic() + 3
    problems, claims = [], [0]

    def run():
        while time.monotonic() < stop:
            try:
                claim = store.reserve_stamp(tmp_path, NOW)
                folder = store.staging_folder(tmp_path, claim)
                (folder / "x.csv").write_text("x")
                if not claim.path.exists() or not (folder / "x.csv").exists():
                    problems.append(f"{claim.stamp} lost its lock or folder")
                import shutil

                shutil.rmtree(folder)
                claim.release()
                claims[0] += 1
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                problems.append(repr(exc))

    def scan(remove):
        while time.monotonic() < stop:
            try:
                store.leftovers(tmp_path, remove=remove)
            except Exception as exc:  # noqa: BLE001
                problems.append(repr(exc))

    threads = [threading.Thread(target=run) for _ in range(3)]
    threads += [threading.Thread(target=scan, args=(flag,)) for flag in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert claims[0] > 30
    assert store.leftovers(tmp_path) == []


@pytest.mark.timeout(60)
def test_fifos_named_like_locks_are_skipped_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / ".20250101_000000.lock")
    os.mkfifo(tmp_path / f"{store.CLAIM_PREFIX}planted")
    os.utime(tmp_path / f"{store.CLAIM_PREFIX}planted", (0, 0))  # past the claim grace
    assert store.leftovers(tmp_path) == []
    claim = store.reserve_stamp(tmp_path, NOW)
    claim.release()
    assert (tmp_path / ".20250101_000000.lock").exists()  # not ours to remove
