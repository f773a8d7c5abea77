import os
import re
import threading
import time
from datetime import UTC, datetime

import pytest

from tests.helpers import docs_text, run_cli
from tests.helpers import plant_report as report
from user_failure_stats import coerce, own_reports, retention, store
from user_failure_stats.errors import ConfigError
from user_failure_stats.files import locked, read_regular
from user_failure_stats.names import published_names, summary_name
from user_failure_stats.summary import RunSummary

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)  # keeping 30 days: reports from 31 May 12:00 on


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def folder_of_reports(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    report(out, "20250501_120000", "2025-05-01T12:00:00+00:00")  # old
    report(out, "20250531_115959", "2025-05-31T11:59:59+00:00")  # a second too old
    report(out, "20250531_120000", "2025-05-31T12:00:00+00:00")  # exactly 30 days: kept
    report(out, "20250531_173000", "2025-05-31T17:30:00+05:30")  # 12:00 UTC: kept
    report(out, "20250629_000000", "2025-06-29T00:00:00+00:00")  # new
    report(out, "20250502_120000", "2025-05-02T12:00:00+00:00", files=("html", "ipynb"))  # no CSV
    # Not a report's: left alone, whatever their names or ages.
    outside = tmp_path / "outside.csv"
    outside.write_text("keep me")
    report(out, "20250503_120000", "2025-05-03T12:00:00+00:00", files=("html", "ipynb"))
    (out / "user_failure_stats_20250503_120000.csv").symlink_to(outside)  # a link: not removed
    (out / "notes.txt").write_text("mine")
    (out / "user_failure_stats_20200101_000000.csv").write_text("no summary: not known")
    (out / "linked.html").symlink_to(outside)
    (out / "sub").mkdir()
    (tmp_path / summary_name("20200101_000000")).write_text("{}")
    (out / summary_name("20200102_000000")).symlink_to(tmp_path / summary_name("20200101_000000"))
    old = tmp_path / "elsewhere"
    old.mkdir()
    report(old, "20200103_000000", "2020-01-03T00:00:00+00:00")
    os.symlink(old / summary_name("20200103_000000"), out / summary_name("20200103_000000"))
    (out / "user_failure_rates_20200103_000000.html").write_text("its summary is a link")
    # A summary under another report's name: it never speaks for 20250629_000000's files.
    impostor = tmp_path / "impostor"
    impostor.mkdir()
    report(impostor, "20250629_000000", "2020-01-01T00:00:00+00:00")
    (impostor / summary_name("20250629_000000")).rename(out / summary_name("20200104_000000"))
    store.update_index(out)
    return out


KEPT = [
    ".index.lock",
    ".removed-not-yet-published",  # the names a publish target may still hold
    ".user_failure_rates_20200102_000000.json",
    ".user_failure_rates_20200103_000000.json",
    ".user_failure_rates_20200104_000000.json",
    ".user_failure_rates_20250531_120000.json",
    ".user_failure_rates_20250531_173000.json",
    ".user_failure_rates_20250629_000000.json",
    "index.html",
    "linked.html",
    "notes.txt",
    "sub",
    "user_failure_rates_20200103_000000.html",
    "user_failure_rates_20250531_120000.html",
    "user_failure_rates_20250531_120000.ipynb",
    "user_failure_rates_20250531_173000.html",
    "user_failure_rates_20250531_173000.ipynb",
    "user_failure_rates_20250629_000000.html",
    "user_failure_rates_20250629_000000.ipynb",
    "user_failure_stats_20200101_000000.csv",
    "user_failure_stats_20250503_120000.csv",
    "user_failure_stats_20250531_120000.csv",
    "user_failure_stats_20250531_173000.csv",
    "user_failure_stats_20250629_000000.csv",
]


def test_prune_removes_old_reports_and_nothing_else(tmp_path):
    out = folder_of_reports(tmp_path)
    removed = store.prune(out, 30, now=NOW)
    assert [p.name for p in removed] == [
        "user_failure_stats_20250501_120000.csv",
        "user_failure_rates_20250501_120000.html",
        "user_failure_rates_20250501_120000.ipynb",
        ".user_failure_rates_20250501_120000.json",
        "user_failure_rates_20250502_120000.html",  # its CSV was already gone
        "user_failure_rates_20250502_120000.ipynb",
        ".user_failure_rates_20250502_120000.json",
        "user_failure_rates_20250503_120000.html",  # its CSV is a link: left
        "user_failure_rates_20250503_120000.ipynb",
        ".user_failure_rates_20250503_120000.json",
        "user_failure_stats_20250531_115959.csv",
        "user_failure_rates_20250531_115959.html",
        "user_failure_rates_20250531_115959.ipynb",
        ".user_failure_rates_20250531_115959.json",
    ]
    assert all(p.parent == out for p in removed)
    assert names(out) == KEPT
    # Noted for the next publish, in the order removed.
    sizes = store.pending_removals(out)  # with each file's size: only that copy is removed
    assert list(sizes) == [p.name for p in removed] and all(n > 0 for n in sizes.values())
    assert (tmp_path / "outside.csv").read_text() == "keep me"
    assert len(os.listdir(tmp_path / "elsewhere")) == 4  # a linked summary is never followed


def test_the_index_lists_only_the_reports_left(tmp_path):
    out = folder_of_reports(tmp_path)
    assert "20250501_120000" in (out / "index.html").read_text()
    store.prune(out, 30, now=NOW)
    page = (out / "index.html").read_text()
    assert [e.stamp for e in store.entries(out)] == [
        "20250629_000000",
        "20250531_173000",
        "20250531_120000",
    ]
    for stamp in ("20250501_120000", "20250502_120000", "20250503_120000", "20250531_115959"):
        assert stamp not in page


def test_a_dry_run_removes_nothing(tmp_path):
    out = folder_of_reports(tmp_path)
    before = {p.name: p.stat(follow_symlinks=False).st_mtime_ns for p in out.iterdir()}
    planned = store.prune(out, 30, now=NOW, dry_run=True)
    assert len(planned) == 14 and planned == store.prune(out, 30, now=NOW, dry_run=True)
    assert {p.name: p.stat(follow_symlinks=False).st_mtime_ns for p in out.iterdir()} == before
    assert store.prune(out, 30, now=NOW) == planned


def test_nothing_to_remove_leaves_the_folder_as_it_was(tmp_path):
    out = folder_of_reports(tmp_path)
    index = (out / "index.html").stat().st_mtime_ns
    assert store.prune(out, 365, now=NOW) == []
    assert store.prune(out, 1_000_000, now=NOW) == []  # before the year 1
    assert (out / "index.html").stat().st_mtime_ns == index


@pytest.mark.parametrize("value", [0, -1, "0", "-3", 1.5, "1.5", "a week", "", True, None, 10**7])
def test_keep_days_must_be_a_positive_whole_number(tmp_path, value):
    with pytest.raises(ConfigError, match=r"^keep_days must be a whole number from 1 to") as exc:
        store.prune(tmp_path, value, now=NOW)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("value", [1, "7", " 30 "])
def test_keep_days_may_be_text_from_a_flag(value):
    assert coerce.whole_number(value, "keep_days", 1) == int(value)


def test_a_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^output directory .*nowhere does not exist$"):
        store.prune(tmp_path / "nowhere", 30)


def test_prune_waits_for_the_index_lock(tmp_path):
    out = folder_of_reports(tmp_path)
    done = []
    with locked(out / store.LOCK_NAME):  # a run rebuilding the index
        worker = threading.Thread(target=lambda: done.append(store.prune(out, 30, now=NOW)))
        worker.start()
        time.sleep(0.5)
        assert done == [] and (out / "user_failure_rates_20250501_120000.html").exists()
    worker.join(10)
    assert len(done[0]) == 14


def test_prune_leaves_nothing_in_a_folder_with_nothing_to_remove(tmp_path):
    empty = tmp_path / "home"
    empty.mkdir()
    (empty / "notes.txt").write_text("mine")
    assert store.prune(empty, 30, now=NOW) == []
    assert sorted(p.name for p in empty.iterdir()) == ["notes.txt"]  # no .index.lock


def test_sizes_for_people():
    assert [retention.size_text(n) for n in (512, 3400, 114_000_000)] == [
        "512 bytes",
        "3.4 KB",
        "114.0 MB",
    ]


def small_folder(tmp_path):
    """A report generated in 2020 and one generated now, and a file of no report."""
    out = tmp_path / "reports"
    out.mkdir()
    report(out, "20200101_000000", "2020-01-01T00:00:00+00:00")
    report(out, "20991231_000000", datetime.now(UTC).isoformat())
    (out / "notes.txt").write_text("mine")
    return out


def test_the_prune_command_prints_what_it_removes_and_the_space_freed(tmp_path, cli_env):
    out = small_folder(tmp_path)
    old = [out / n for n in published_names("20200101_000000")]
    size = retention.size_text(sum(p.stat().st_size for p in old))
    env = cli_env("postgresql://u@h/db")
    command = ["prune", "--keep-days", "30", "--output-dir", str(out)]
    dry = run_cli([*command, "--dry-run"], env, tmp_path)
    assert (dry.returncode, dry.stderr) == (0, "")
    assert dry.stdout.splitlines() == [
        f"Would remove 4 files of 1 report generated more than 30 days ago, freeing {size}:",
        *[f"  {p}" for p in old],
    ]
    assert all(p.exists() for p in old)
    done = run_cli(command, env, tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[0] == (
        f"Removed 4 files of 1 report generated more than 30 days ago, freeing {size}:"
    )
    assert names(out) == [
        ".index.lock",
        ".removed-not-yet-published",
        ".user_failure_rates_20991231_000000.json",
        "index.html",
        "notes.txt",
        "user_failure_rates_20991231_000000.html",
        "user_failure_rates_20991231_000000.ipynb",
        "user_failure_stats_20991231_000000.csv",
    ]
    again = run_cli(command, env, tmp_path)
    assert again.stdout == f"No reports generated more than 30 days ago in {out}.\n"


def test_the_prune_command_says_which_reports_it_leaves_to_others(tmp_path, cli_env):
    out = small_folder(tmp_path)
    (out / summary_name("20200101_000000")).chmod(0o666)  # anyone's to edit: not ours
    result = run_cli(
        ["prune", "--keep-days", "30", "--output-dir", str(out)], cli_env(""), tmp_path
    )
    assert result.returncode == 0
    assert result.stdout == f"No reports generated more than 30 days ago in {out}.\n"
    assert result.stderr == (
        f"user-failure-stats: warning: 1 report in {out} left out (not listed, published or "
        "pruned): files of another user's, or that others may write (give each user a folder "
        "of their own, or chmod go-w the files)\n"
    )


@pytest.mark.parametrize("days", ["0", "-1", "1.5", "week"])
def test_the_prune_command_refuses_a_bad_keep_days_in_one_line(tmp_path, cli_env, days):
    out = small_folder(tmp_path)
    before = names(out)
    command = ["prune", f"--keep-days={days}", "--output-dir", str(out)]
    result = run_cli(command, cli_env("x"), tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "user-failure-stats: error: keep_days must be a whole number from 1 to "
        f"1,000,000, got {days!r}\n"
    )
    assert names(out) == before


def test_the_prune_command_needs_keep_days_and_a_folder(tmp_path, cli_env):
    result = run_cli(["prune"], cli_env("x"), tmp_path)
    assert result.returncode == 2 and "--keep-days" in result.stderr
    command = ["prune", "--keep-days", "3", "--output-dir", "nowhere"]
    missing = run_cli(command, cli_env("x"), tmp_path)
    assert missing.returncode == 2
    nowhere = tmp_path / "nowhere"
    assert missing.stderr.endswith(f"error: output directory {nowhere} does not exist\n")
    assert missing.stderr.count("\n") == 1
    (tmp_path / "a file").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"^output directory .*a file is not a folder$"):
        store.prune(tmp_path / "a file", 3)
    odd = tmp_path / "two\nlines"
    odd.mkdir()
    command = ["prune", "--keep-days", "3", "--output-dir", str(odd)]
    result = run_cli(command, cli_env("x"), tmp_path)
    assert result.returncode == 0
    said = f"No reports generated more than 3 days ago in {tmp_path}/two\\nlines.\n"
    assert result.stdout == said


def test_keep_days_comes_from_the_flag_or_the_parameter_file(tmp_path):
    from user_failure_stats.arguments import build_parser, choose_parameters
    from user_failure_stats.settings import Settings

    path = tmp_path / "p.yaml"
    path.write_text("start: 2025-05-21\nend: 2025-05-23\nkeep_days: 30\n")

    def keep_days(*argv):
        args = build_parser().parse_args(["run", "-f", str(path), *argv])
        return choose_parameters(args, Settings(db_url=None)).policy.keep_days

    assert (keep_days(), keep_days("--keep-days", "7")) == (30, 7)
    path.write_text("start: 2025-05-21\nend: 2025-05-23\nkeep_days: 0\n")
    with pytest.raises(ConfigError, match="^keep_days must be a whole number from 1 to"):
        keep_days()
    path.write_text("start: 2025-05-21\nend: 2025-05-23\n")
    assert keep_days() is None


def test_a_run_with_keep_days_removes_old_reports_and_says_which(pg, settings_for, tmp_path):
    import io

    from user_failure_stats import runner, sections
    from user_failure_stats.params import Parameters

    pg.seed()
    settings = settings_for(pg.url)
    out = settings.output_dir
    out.mkdir()
    report(out, "20200101_000000", "2020-01-01T00:00:00+00:00")
    params = Parameters(start="2025-05-21", end="2025-05-23", timezone="Asia/Kolkata")
    result = runner.run_report(params, settings, keep_days=30)
    assert result.pruned == tuple(published_names("20200101_000000"))
    assert not any(out.glob("*20200101_000000*")) and result.html.is_file()
    (entry,) = store.entries(out)
    assert entry.stamp == result.html.stem.removeprefix("user_failure_rates_")
    # The summary records the instant the report shows, in UTC.
    assert entry.generated_at.endswith("+00:00")
    assert sections.generated_text("Asia/Kolkata", entry.generated_instant()) == entry.generated
    printed = io.StringIO()
    runner.print_result(result, printed)
    assert printed.getvalue().endswith(
        "Removed (reports older than the days kept):\n"
        + "".join(f"  {n}\n" for n in published_names("20200101_000000"))
    )


def test_the_readme_prune_commands_work_as_written(tmp_path, cli_env):
    import re
    import shlex

    readme = docs_text()
    commands = re.findall(r"^\.venv/bin/user-failure-stats (prune .*)$", readme, flags=re.M)
    assert len(commands) == 2
    out = small_folder(tmp_path)
    for command in commands:
        env = cli_env("postgresql://u@h/db", OUTPUT_DIR=str(out))
        result = run_cli(shlex.split(command), env, tmp_path)
        assert result.returncode == 0, result.stderr
    assert not any(out.glob("*20200101_000000*"))


def test_a_run_refuses_a_bad_keep_days_before_anything_runs(tmp_path):
    from user_failure_stats import runner
    from user_failure_stats.params import Parameters
    from user_failure_stats.settings import Settings

    params = Parameters(start="2025-05-21", end="2025-05-23")
    settings = Settings(db_url=None, output_dir=tmp_path / "out")
    with pytest.raises(ConfigError, match="^keep_days must be a whole number from 1 to"):
        runner.run_report(params, settings, keep_days=0)
    assert not (tmp_path / "out").exists()


def test_a_read_only_folder_is_one_line_and_exit_2(tmp_path, cli_env):
    import subprocess

    folder = tmp_path / "ro"
    folder.mkdir()
    report(folder, "20200101_000000", "2020-01-01T00:00:00+00:00")
    mounted = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a read-only folder here (needs root)")
    try:
        result = run_cli(
            ["prune", "--keep-days", "30", "--output-dir", str(folder)], cli_env("x"), tmp_path
        )
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"user-failure-stats: error: cannot prune {folder}: cannot lock "
        f"{folder / '.index.lock'}: Read-only file system"
    ]


def test_prune_help_lists_only_its_own_exit_codes(capsys):
    from user_failure_stats.cli import main

    with pytest.raises(SystemExit):
        main(["prune", "--help"])
    text = capsys.readouterr().out
    codes = [line.split()[0] for line in text.split("exit codes:")[1].splitlines() if line.strip()]
    assert codes == ["0", "1", "2", "130"]


def test_summaries_with_numbers_out_of_range_are_skipped_and_the_index_stands(tmp_path):
    import json

    out = tmp_path / "reports"
    out.mkdir()
    report(out, "20250601_120000", "2025-06-01T12:00:00+00:00")  # a real one, old
    report(out, "20250629_000000", "2025-06-29T00:00:00+00:00")
    planted = {  # what no run writes: each one stopped the index, prune and the run for good
        "20250602_000000": {"total_sessions": 10**400},
        "20250603_000000": {"overall_failure_rate": 1e308},
        "20250604_000000": {"flagged_users": -1},
        "20250605_000000": {"flagged_users": True},
        "20250606_000000": {"total_sessions": "10"},
    }
    for stamp, numbers in planted.items():
        report(out, stamp, "2025-06-02T00:00:00+00:00")
        path = out / summary_name(stamp)
        record = json.loads(path.read_text())
        record["summary"] |= numbers
        path.write_text(json.dumps(record))
    assert [e.stamp for e in store.entries(out)] == ["20250629_000000", "20250601_120000"]
    page = store.update_index(out)[0].read_text()
    assert "20250629_000000" in page and "20250602_000000" not in page
    removed = store.prune(out, 7, now=NOW)  # only the real old report: planted ones are left
    assert [p.name for p in removed] == list(published_names("20250601_120000"))


def test_a_summary_that_is_not_one_names_what_is_wrong():
    from user_failure_stats.summary import RunSummary

    for text, wrong in (
        ("[]", "top: type"),
        ('{"stamp": "x"}', "required"),
        ("1" * 1_000_001, "too large"),
        ("[" * 100_000, "not JSON"),
    ):
        with pytest.raises(ValueError, match=f"not a run summary: .*{wrong}"):
            RunSummary.from_json(text)


def test_pending_removals_never_name_a_live_report(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    report(out, "20250629_000000", "2025-06-29T00:00:00+00:00")
    live = list(published_names("20250629_000000"))
    gone = list(published_names("20200101_000000"))
    (out / store.PENDING_NAME).write_text("".join(f"{n}\t10\n" for n in live + gone))
    assert list(store.pending_removals(out)) == gone  # a live report is never removed


def test_a_pending_list_another_user_could_have_written_is_ignored(tmp_path):
    # The list removes files from the publish target: only one this user wrote, and no one
    # else could change, is read. A list another user planted or edited removes nothing.
    out = tmp_path / "reports"
    out.mkdir()
    path = out / store.PENDING_NAME
    gone = list(published_names("20200101_000000"))
    path.write_text("".join(f"{n}\t10\n" for n in gone))
    path.chmod(0o644)
    assert list(store.pending_removals(out)) == gone
    assert store.pending_problem(out) is None
    for mode in (0o666, 0o664, 0o646):
        path.chmod(mode)
        assert store.pending_removals(out) == {}
        # Checked on the file opened, not only on the path: a list swapped in between the
        # look and the read (a shared sticky folder) is not read either.
        assert read_regular(path, 1000, own=True) is None
        assert store.pending_problem(out) == (
            f"{path} is writable by other users: ignored, and the publish target keeps the "
            "reports it names (remove it)"
        )
    path.chmod(0o644)
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
        assert store.pending_removals(out) == {}
        assert read_regular(path, 1000, own=True) is None
        assert read_regular(path, 1000) is not None
        assert store.pending_problem(out) == (
            f"{path} belongs to another user: ignored, and the publish target keeps the "
            "reports it names (remove it)"
        )
    # The next prune writes a list of its own: the names it removed, none of the ignored ones.
    report(out, "20210101_000000", "2021-01-01T00:00:00+00:00")
    store.prune(out, 30, now=NOW)
    assert list(store.pending_removals(out)) == list(published_names("20210101_000000"))
    assert store.pending_problem(out) is None
    assert path.stat().st_uid == os.geteuid() and path.stat().st_mode & 0o022 == 0


def test_a_summary_whose_time_contradicts_its_stamp_is_skipped_never_pruned(tmp_path):
    # A run writes the time it ran, and its stamp is that time on the host's clock: a summary
    # more than two days off its stamp is not what a run wrote, and prunes nothing.
    out = tmp_path / "reports"
    out.mkdir()
    report(out, "20250629_000000", "2020-01-01T00:00:00+00:00")  # "old", made yesterday
    report(out, "20250628_000000", "2025-06-27T09:30:00+00:00")  # a host 14 h ahead of UTC
    report(out, "20200101_000000", "2020-01-01T00:00:00+00:00")
    assert [e.stamp for e in store.entries(out)] == ["20250628_000000", "20200101_000000"]
    removed = store.prune(out, 30, now=NOW)
    assert {p.name for p in removed} == set(published_names("20200101_000000"))
    assert all((out / name).exists() for name in published_names("20250629_000000"))


def test_an_index_html_the_tool_did_not_write_is_left_as_it_is(tmp_path):
    # An output folder that is a website's root: its own home page is never replaced.
    from user_failure_stats.errors import OutputError

    out = tmp_path / "reports"
    out.mkdir()
    report(out, "20250629_000000", "2025-06-29T00:00:00+00:00")
    for foreign in ("<h1>MY OWN SITE</h1>\n", ""):
        (out / "index.html").write_text(foreign)
        with pytest.raises(OutputError) as caught:
            store.update_index(out)
        assert str(caught.value) == (
            f"{out / 'index.html'} is not this tool's index: left as it is (give the reports "
            "a folder of their own, or remove it)"
        )
        assert (out / "index.html").read_text() == foreign
    (out / "index.html").unlink()
    store.update_index(out)  # made by the tool: replaced from then on
    store.update_index(out)
    assert "<title>User failure reports</title>" in (out / "index.html").read_text()


def test_only_what_the_tool_names_and_owns_is_a_leftover(tmp_path):
    # tempfile names the tool's claims and staging folders with 8 random characters: a user's
    # ".run-<stamp>-mydata" folder or ".claim-ticket-notes.txt" is theirs, and so is another
    # user's file named like the tool's.
    out = tmp_path / "reports"
    out.mkdir()
    mine = out / ".run-20250101_000000-mydata"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    notes = out / ".claim-ticket-notes.txt"
    notes.write_text("notes")
    left = out / ".run-20250101_000000-ab_1cd2e"  # a killed run's: removed
    left.mkdir()
    claim = out / ".claim-x1y2z3_4"
    claim.write_text("")
    old = time.time() - 3600
    for path in (notes, claim):
        os.utime(path, (old, old))
    theirs = out / ".run-20250101_000000-zz99yy88"
    theirs.mkdir()
    if os.geteuid() == 0:
        os.chown(theirs, 65534, 65534)
    removed = store.leftovers(out, remove=True)
    assert sorted(p.name for p in removed) == sorted(
        [left.name, claim.name] + ([] if os.geteuid() == 0 else [theirs.name])
    )
    assert (mine / "thesis.txt").read_text() == "years of work" and notes.exists()


def test_prune_removes_only_the_running_users_files(tmp_path):
    # In a shared folder another user can plant a summary of an "old" report beside their
    # own files, or an HTML under our report's name: prune removes none of them (nor ours of
    # a report with their page), and notes nothing for the publish target.
    if os.geteuid() != 0:
        pytest.skip("files of another user are made as root")
    out = tmp_path / "reports"
    out.mkdir()
    out.chmod(0o1777)
    report(out, "20200101_000000", "2020-01-01T00:00:00+00:00")  # all of it theirs
    report(out, "20200102_000000", "2020-01-02T00:00:00+00:00")  # ours, but their HTML
    report(out, "20200103_000000", "2020-01-03T00:00:00+00:00")  # ours
    for path in out.iterdir():
        if "20200101_000000" in path.name or path.name.endswith("20200102_000000.html"):
            os.chown(path, 65534, 65534)
    removed = store.prune(out, 30, now=NOW)
    assert sorted(p.name for p in removed) == sorted(published_names("20200103_000000"))
    assert all((out / n).exists() for n in published_names("20200101_000000"))
    assert all((out / n).exists() for n in published_names("20200102_000000"))
    assert set(store.pending_removals(out)) <= set(published_names("20200103_000000"))


def test_reports_another_user_could_have_written_are_neither_listed_nor_pruned(tmp_path):
    # A shared folder: another user's report (or a summary, or an HTML of ours anyone may
    # change) is not one of ours: not listed, not pruned, said in one line.
    out = tmp_path / "reports"
    out.mkdir()
    out.chmod(0o1777)
    for day in ("01", "02", "03", "04"):
        report(out, f"202001{day}_000000", f"2020-01-{day}T00:00:00+00:00")
    (out / summary_name("20200102_000000")).chmod(0o666)  # ours, but anyone may edit it
    (out / "user_failure_rates_20200103_000000.html").chmod(0o664)  # a group's to edit
    if os.geteuid() == 0:
        os.chown(out / summary_name("20200101_000000"), 65534, 65534)  # all of it theirs
        for path in out.glob("*20200101_000000*"):
            os.chown(path, 65534, 65534)
    listed = [entry.stamp for entry in store.entries(out)]
    assert listed == ["20200104_000000"] + ([] if os.geteuid() == 0 else ["20200101_000000"])
    removed = store.prune(out, 30, now=NOW, dry_run=True)
    assert "20200102_000000" not in "".join(p.name for p in removed)
    assert "20200104_000000" in "".join(p.name for p in removed)
    assert "20200103_000000" not in "".join(p.name for p in removed)
    skipped = 3 if os.geteuid() == 0 else 2
    assert own_reports.problem(out) == (
        f"{skipped} reports in {out} left out (not listed, published or pruned): files of "
        "another user's, or that others may write (give each user a folder of their own, or "
        "chmod go-w the files)"
    )
    (out / summary_name("20200102_000000")).chmod(0o644)
    assert "20200102_000000" in [entry.stamp for entry in store.entries(out)]


def test_committed_files_are_the_users_to_change_whatever_the_umask(tmp_path):
    # papermill and the writers of a run follow the umask: under 000 the executed notebook
    # was 0666, a file anyone could change and that would then not count as ours.
    out = tmp_path / "reports"
    out.mkdir()
    staged = tmp_path / "staged"
    old = os.umask(0)
    try:
        staged.mkdir()
        files = [staged / name for name in published_names("20250101_000000")]
        for path in files:
            path.write_text("x")
    finally:
        os.umask(old)
    assert {oct(path.stat().st_mode & 0o777) for path in files} == {"0o666"}
    for path in store.commit(out, files):
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_folders_the_tool_makes_are_the_users_to_change_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        made = store.prepare(tmp_path / "new" / "deeper")
    finally:
        os.umask(old)
    for folder in (tmp_path / "new", made):
        assert folder.stat().st_mode & 0o777 == 0o755, folder
    assert own_reports.folder_problem(made) is None


def test_a_folder_others_may_write_into_is_named_in_one_line(tmp_path):
    # Without the sticky bit others may rename their files over the report's.
    out = tmp_path / "shared"
    out.mkdir()
    out.chmod(0o777)
    assert own_reports.folder_problem(out) == (
        f"others may replace the files in {out} (it is another user's, or others may write "
        "into it without the sticky bit): give the reports a folder of your own"
    )
    out.chmod(0o1777)  # as /tmp: only the owner of a file may rename or remove it
    assert own_reports.folder_problem(out) is None
    out.chmod(0o2775)  # a team's folder: the group may replace our files
    assert own_reports.folder_problem(out) is not None
    if os.geteuid() == 0:
        out.chmod(0o755)
        os.chown(out, 65534, 65534)
        assert own_reports.folder_problem(out) is not None


def test_a_folder_where_the_index_lock_belongs_is_one_line(tmp_path):
    from user_failure_stats.errors import OutputError

    out = tmp_path / "reports"
    out.mkdir()
    (out / store.LOCK_NAME).mkdir()
    with pytest.raises(OutputError, match=r"^cannot lock .*/\.index\.lock: Is a directory$"):
        store.update_index(out)
    report(out, "20200101_000000", "2020-01-01T00:00:00+00:00")
    with pytest.raises(OutputError, match=r"^cannot prune .*: cannot lock .*: Is a directory$"):
        store.prune(out, 30, now=NOW)
    assert (out / "user_failure_rates_20200101_000000.html").exists()  # nothing removed


def test_folders_where_files_belong_are_skipped_or_named(tmp_path):
    from user_failure_stats.errors import OutputError

    out = tmp_path / "reports"
    out.mkdir()
    report(out, "20200101_000000", "2020-01-01T00:00:00+00:00")
    report(out, "20250629_000000", "2025-06-29T00:00:00+00:00")
    (out / summary_name("20240202_000002")).mkdir()  # a folder named like a summary: skipped
    assert [e.stamp for e in store.entries(out)] == ["20250629_000000", "20200101_000000"]
    assert len(store.prune(out, 30, now=NOW, dry_run=True)) == 4
    (out / store.PENDING_NAME).mkdir()  # a folder where the pending removals belong
    assert store.pending_removals(out) == {}
    with pytest.raises(OutputError) as caught:
        store.prune(out, 30, now=NOW)
    assert re.fullmatch(
        r"cannot prune .*: cannot write .*removed-not-yet-published: Is a directory: 4 files "
        r"were removed here, but a publish target keeps its copies of them",
        str(caught.value),
    )
    # The old report is gone, and the index no longer lists it.
    assert not (out / "user_failure_rates_20200101_000000.html").exists()
    page = (out / "index.html").read_text()
    assert "20250629_000000" in page and "20200101_000000" not in page


def test_a_lock_held_too_long_is_one_line(tmp_path):
    import fcntl

    from user_failure_stats.errors import OutputError
    from user_failure_stats.files import locked as lock

    path = tmp_path / ".index.lock"
    holder = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with pytest.raises(OutputError, match=r"has held .*\.index\.lock for 0\.2 seconds"):
            with lock(path, wait=0.2):
                pass
    finally:
        os.close(holder)
    with lock(path, wait=0.2):  # free again
        pass


def test_stamps_are_ascii_digits_only():
    from user_failure_stats.names import STAMP, is_report_file

    assert STAMP.fullmatch("20200101_000000") and STAMP.fullmatch("20200101_000000_999")
    assert not STAMP.fullmatch("２０２０0101_000000")
    assert not is_report_file("user_failure_rates_２０２０0101_000000.html")


def test_summaries_with_text_no_run_writes_are_skipped_and_prune_and_the_index_stand(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    report(out, "20200101_000000", "2020-01-01T00:00:00+00:00")  # old: pruned
    report(out, "20250629_000000", "2025-06-29T00:00:00+00:00")
    planted = {
        "20250602_000000": lambda text: text.replace('"title": "', '"title": "evil \\ud800 '),
        "20250603_000000": lambda text: text.replace('"timezone": "', '"timezone": "\\udcff'),
        "20250604_000000": lambda text: text.replace("0.", 'NaN, "x": 0.', 1),
    }
    for stamp, change in planted.items():
        report(out, stamp, "2025-06-02T00:00:00+00:00")
        path = out / summary_name(stamp)
        path.write_text(change(path.read_text()))
    report(out, "20250605_000000", "2025-06-02T00:00:00+00:00")
    path = out / summary_name("20250605_000000")
    path.write_bytes(path.read_text().encode("utf-16"))  # JSON, but not as written
    for path in out.glob(".*.json"):
        if "2025060" in path.name:
            with pytest.raises(ValueError, match="not a run summary: not JSON in UTF-8"):
                RunSummary.from_json(path.read_bytes())
    removed = store.prune(out, 30, now=NOW)
    assert [p.name for p in removed] == list(published_names("20200101_000000"))
    page = store.update_index(out)[0].read_text(encoding="utf-8")
    assert "20250629_000000" in page and "20250602_000000" not in page
