import multiprocessing
import os
import re
import time
from pathlib import Path

import pytest

from tests.conftest import AZURITE_KEY
from tests.helpers import SEED_WINDOW, plant_report
from tests.helpers import run_cli as cli
from user_failure_stats import names
from user_failure_stats import publish as publish_module
from user_failure_stats.errors import EXIT_DELIVERY, ConfigError, PublishError
from user_failure_stats.publish import missing, publish
from user_failure_stats.targets import Target, check_url, describe

SECRET = "wJalrXUtnFEMI-s3cr3t"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///srv/www/reports", "file:///srv/www/reports"),
        ("  file:///srv/www/reports/  ", "file:///srv/www/reports/"),
        ("az://reports/calls/daily", "az://reports/calls/daily"),
        ("AZ://reports", "az://reports"),
        ("abfs://reports/x", "abfs://reports/x"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
    ],
)
def test_folder_urls_are_accepted(url, expected):
    assert check_url(url) == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "publish is empty"),
        ("/srv/www/reports", "must be a folder URL"),
        ("https://example.com/reports", "must be a folder URL"),
        ("gs://bucket/x", "must be a folder URL"),
        ("file://relative/folder", "a file URL names an absolute folder"),
        ("az://", "must be a folder URL"),
        ("s3:///prefix-only", "needs a container or bucket"),
        ("file:///", "name a folder, not the root /"),
        ("file:/srv/x", "got no '://'"),
        ("az://reports/../other/x", "must not climb out of its folder with .."),
        ("file:///srv/a%2F..%2F..%2Fescaped", "must not climb out of its folder with .."),
        ("file:///srv/%2e%2e/escaped", "must not climb out of its folder with .."),
        ("file:///srv/%2E%2E", "must not climb out of its folder with .."),
        ("az://reports/x%2F..%2F..%2Fother", "must not climb out of its folder with .."),
        ("file:///srv/a%00b", "without control characters"),
        ("file:///srv/%0Aevil", "without control characters"),
        ("file:///%2F", "name a folder, not the root /"),
        ("file:///.", "name a folder, not the root /"),
        ("file:///srv/..%2F..%2F.", "must not climb out of its folder with .."),
        ("file:///./", "name a folder, not the root /"),
        ("file:///srv/%ff%fe", "percent-encoded bytes that are not UTF-8"),
        (f"s3://AKIAEXAMPLE:{SECRET}@bucket/x", "must not carry credentials"),
        (f"az://reports/x?sig={SECRET}", "must not carry credentials"),
        (f"az://reports/x#{SECRET}", "must not carry credentials"),
        ("file:///srv/a\nb", "without control characters"),
        ("file:///srv/\x1b[31mred", "without control characters"),
        ("file:///" + "x" * 10_000, "at most 2,000 characters"),
        ("az://reports]/x", "[ or ] out of place"),
        ("file://[::1/x", "[ or ] out of place"),
        ("s3://[b/x", "[ or ] out of place"),
        ("az://reports/a\\..\\..\\other\\x", "must not hold a backslash"),
        ("az://reports/a%5C..%5Cx", "must not hold a backslash"),
        ("az://reports/x%3FversionId=1", "a folder name must not hold ? or #"),
        ("az://c%2F..%2Fother/x", "must not climb out of its folder with .."),
        ("az://../x", "must not climb out of its folder with .."),
        ("s3://b%2F..%2F..%2Fevil%2Fother", "must not climb out of its folder with .."),
        ("az://reports/./x", "a folder name must not be . or empty (//)"),
        ("az://reports/x%2F.", "a folder name must not be . or empty (//)"),
        ("s3://bucket//x", "a folder name must not be . or empty (//)"),
        ("az://%2Fx", "a folder name must not be . or empty (//)"),
        ("s3://bucket/x%23y", "a folder name must not hold ? or #"),
        ("file:///srv/x%3Fy", "a folder name must not hold ? or #"),
        ("file:///srv/q1::file:///srv/q2", "not a chain of them (::)"),
        ("file:///srv/q4/x::..", "not a chain of them (::)"),
        ("file:///srv/r4::s3://b/p", "not a chain of them (::)"),
        ("az://reports/a%3A%3Afile:///x", "not a chain of them (::)"),
        ("simplecache::az://reports/x", "must be a folder URL"),
        ("file:///srv/lone\ud800", "control characters"),  # a parameter file's "\ud800"
    ],
)
def test_bad_folder_urls_are_refused_in_one_line_without_secrets(url, says):
    with pytest.raises(ConfigError) as caught:
        check_url(url)
    message = str(caught.value)
    assert says in message
    assert "\n" not in message and SECRET not in message and len(message) < 300


def test_describe_never_shows_credentials_or_control_characters():
    assert describe("az://reports/daily/") == "az://reports/daily"
    assert describe(f"s3://KEY:{SECRET}@bucket/x?token={SECRET}") == "s3://bucket/x"
    assert describe("file:///srv/\x1b[2Jx") == "file:///srv/\\x1b[2Jx"
    assert describe(None) == "(none)"


def test_links_use_the_link_url_when_given():
    target = Target("az://reports/daily", link_base="https://reports.example.com/daily/")
    assert target.link("a b.html") == "https://reports.example.com/daily/a%20b.html"
    assert Target("file:///srv/r").link("x.csv") == "file:///srv/r/x.csv"


def test_publish_copies_files_whole_and_removes_the_pruned(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "a.html").write_text("<p>a</p>")
    (source / "index.html").write_text("index")
    folder = tmp_path / "www" / "new" / "reports"  # created, parents too
    target = Target(check_url(folder.as_uri()))
    links = publish(target, [source / "a.html", source / "index.html"])
    assert links == [f"{folder.as_uri()}/a.html", f"{folder.as_uri()}/index.html"]
    assert sorted(p.name for p in folder.iterdir()) == ["a.html", "index.html"]  # no temp files
    assert (folder / "a.html").read_text() == "<p>a</p>"
    assert missing(target, ["a.html", "b.html"]) == ["b.html"]
    # Removed only at the size this folder's copy had: a planted name removes nothing.
    publish(target, [], remove={"a.html": 9, "index.html": 4, "gone-already.csv": 3})
    assert sorted(p.name for p in folder.iterdir()) == ["a.html", "index.html"]
    publish(target, [], remove={"a.html": 8, "gone-already.csv": 3})
    assert sorted(p.name for p in folder.iterdir()) == ["index.html"]


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PublishError) as caught:
        publish(Target(f"{blocker.as_uri()}/sub"), [blocker])
    assert str(caught.value) == f"cannot publish to {blocker.as_uri()}/sub: Not a directory"
    with pytest.raises(PublishError) as caught:
        publish(Target(blocker.as_uri()), [blocker])
    assert str(caught.value) == (
        f"cannot publish to {blocker.as_uri()}: a file stands where the folder should be"
    )


def test_a_folder_in_the_way_of_a_file_is_one_line(tmp_path):
    source = tmp_path / "index.html"
    source.write_text("index")
    www = tmp_path / "www"
    (www / "index.html").mkdir(parents=True)
    with pytest.raises(PublishError) as caught:
        publish(Target(www.as_uri()), [source])
    assert str(caught.value) == (
        f"cannot publish to {www.as_uri()}: a folder is in the way of index.html"
    )
    assert list((www / "index.html").iterdir()) == []  # nothing left inside it


def test_partial_copies_a_killed_publish_left_are_removed_by_the_next(tmp_path):
    # A publish killed at its deadline (SIGKILL) cannot remove its partial copy; the next one
    # does, once it is an hour old: a younger one may be another run's copy in progress.
    source = tmp_path / "a.html"
    source.write_text("a")
    www = tmp_path / "www"
    www.mkdir()
    outside = tmp_path / "keep.txt"
    outside.write_text("keep")
    stale = [".index.html.0123abcd.tmp", ".user_failure_stats_20261204_101500.csv.89abcdef.tmp"]
    fresh = [".index.html.fedcba98.tmp"]
    # Only a copy of a report's file or the index, of this user's: a name that merely looks
    # like one (8 digits are hex digits too) is somebody's file.
    kept = [".notes.tmp", "report.0123abcd.tmp", ".x.0123ABCD.tmp", ".a.html.0123abcd.tmp.bak"]
    kept += [".db-dump.20250101.tmp", ".notes.cafebabe.tmp", ".a.html.0123abcd.tmp"]
    for name in stale + fresh + kept:
        (www / name).write_text("partial")
    (www / ".link.0123abcd.tmp").symlink_to(outside)
    (www / ".dir.0123abcd.tmp").mkdir()
    hours_ago = time.time() - 2 * 3600
    for name in stale + kept + [".dir.0123abcd.tmp"]:
        os.utime(www / name, (hours_ago, hours_ago))
    os.utime(www / ".link.0123abcd.tmp", (hours_ago, hours_ago), follow_symlinks=False)
    if os.geteuid() == 0:  # another user's, named like ours: not ours to remove
        theirs = ".user_failure_rates_20261204_101500.html.0badcafe.tmp"
        (www / theirs).write_text("partial")
        os.chown(www / theirs, 65534, 65534)
        os.utime(www / theirs, (hours_ago, hours_ago))
        kept.append(theirs)
    publish(Target(www.as_uri()), [source])
    left = sorted(p.name for p in www.iterdir())
    assert left == sorted(["a.html", ".link.0123abcd.tmp", ".dir.0123abcd.tmp", *fresh, *kept])
    assert outside.read_text() == "keep"


def test_an_index_html_of_the_target_the_tool_did_not_write_is_left_as_it_is(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "a.html").write_text("<p>a</p>")
    (source / "index.html").write_text("<title>User failure reports</title> new")
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("<h1>PUBLIC SITE HOME</h1>")
    target = Target(www.as_uri())
    with pytest.raises(PublishError) as caught:
        publish(target, [source / "a.html", source / "index.html"])
    assert str(caught.value) == (
        f"cannot publish to {www.as_uri()}: its index.html is not this tool's index: left as it "
        "is (publish into a folder of its own, or remove it)"
    )
    assert (www / "index.html").read_text() == "<h1>PUBLIC SITE HOME</h1>"
    assert (www / "a.html").read_text() == "<p>a</p>"  # the report went; the index did not
    (www / "index.html").write_text("<!DOCTYPE html>\n<title>User failure reports</title> old")
    publish(target, [source / "index.html"])  # an earlier index of the tool's: replaced
    assert (www / "index.html").read_text().endswith(" new")
    # A FIFO or a link (dangling or not) there is no index of the tool's either.
    for make in (os.mkfifo, lambda path: path.symlink_to(tmp_path / "nowhere.html")):
        (www / "index.html").unlink()
        make(www / "index.html")
        with pytest.raises(PublishError, match="its index.html is not this tool's index"):
            publish(target, [source / "index.html"])
        assert not (www / "index.html").is_file()


def test_the_probe_of_check_makes_no_folder(tmp_path):
    # check --publish file:///.../a/b/c: the run would make the folders; check makes none.
    from user_failure_stats.publish import probe

    deep = tmp_path / "a" / "b" / "c"
    assert probe(Target(check_url(deep.as_uri()))) == tmp_path  # where they would be made
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(PublishError) as caught:
        probe(Target((tmp_path / "file" / "x").as_uri()))
    assert str(caught.value) == (
        f"cannot publish to {(tmp_path / 'file' / 'x').as_uri()}: Not a directory"
    )
    assert probe(Target(tmp_path.as_uri())) is None  # there: a probe file written and removed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_file_of_another_user_in_the_target_is_never_replaced(tmp_path):
    # Named like the next report's, planted in a shared target: left as it is, exit 7.
    if os.geteuid() != 0:
        pytest.skip("files of another user are made as root")
    source = tmp_path / "user_failure_rates_20261206_010000.html"
    source.write_text("<p>ours</p>")
    www = tmp_path / "www"
    www.mkdir()
    planted = www / source.name
    planted.write_text("theirs")
    os.chown(planted, 65534, 65534)
    with pytest.raises(PublishError) as caught:
        publish(Target(www.as_uri()), [source])
    assert str(caught.value) == (
        f"cannot publish to {www.as_uri()}: another user's {source.name} is there: left as it is"
    )
    assert planted.read_text() == "theirs"


def test_a_file_swapped_for_another_users_after_the_check_is_not_published(tmp_path):
    # In a folder others may write, a file can be renamed over ours after the run looked at
    # it: what is copied is checked as opened, so theirs (or one others may write) never goes.
    www = tmp_path / "www"
    source = tmp_path / "user_failure_stats_20261206_010000.csv"
    source.write_text("=HYPERLINK(evil)")
    source.chmod(0o666)
    with pytest.raises(PublishError) as caught:
        publish(Target(www.as_uri()), [source])
    assert str(caught.value) == (
        f"cannot publish to {www.as_uri()}: {source.name} is another user's file, or others "
        "may write it: not published"
    )
    assert not (www / source.name).exists()
    if os.geteuid() == 0:
        source.chmod(0o644)
        os.chown(source, 65534, 65534)
        with pytest.raises(PublishError, match="is another user's file, or others may write"):
            publish(Target(www.as_uri()), [source])


def test_a_file_url_is_decoded(tmp_path):
    source = tmp_path / "a.html"
    source.write_text("a")
    folder = tmp_path / "my reports"
    assert folder.as_uri().endswith("/my%20reports")
    (link,) = publish(Target(check_url(folder.as_uri())), [source])
    assert (folder / "a.html").read_text() == "a"
    assert link == f"{folder.as_uri()}/a.html"


def published_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_run_publishes_report_csv_summary_and_index(pg, cli_env, tmp_path):
    pg.seed()
    out, www = tmp_path / "out", tmp_path / "www" / "calls"
    result = cli(
        ["run", *SEED_WINDOW, "--output-dir", str(out), "--publish", www.as_uri()],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (html,) = out.glob("user_failure_rates_*.html")
    stamp = html.stem.removeprefix("user_failure_rates_")
    assert published_names(www) == [
        f".user_failure_rates_{stamp}.json",
        "index.html",
        f"user_failure_rates_{stamp}.html",
        f"user_failure_stats_{stamp}.csv",
    ]  # not the executed notebook: it holds the code
    for name in published_names(www):
        assert (www / name).read_bytes() == (out / name).read_bytes(), name
    assert f"Published: {www.as_uri()}/{html.name}\n" in result.stdout
    assert f"href='{html.name}'" in (www / "index.html").read_text()


def test_publish_fills_in_reports_the_target_lacks(pg, cli_env, tmp_path):
    pg.seed()
    out, www = tmp_path / "out", tmp_path / "www"
    out.mkdir()
    plant_report(out, "20250101_000000", "2025-01-01T00:00:00+00:00")  # written before
    result = cli(
        ["run", *SEED_WINDOW, "--output-dir", str(out), "--publish", www.as_uri()],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    local = sorted(p.name for p in out.iterdir() if p.suffix in (".html", ".csv", ".json"))
    assert published_names(www) == local  # both reports, so every index link works
    assert len(local) == 7


def test_publish_url_layers_settings_file_and_flag(tmp_path):
    from user_failure_stats.arguments import build_parser, choose_parameters
    from user_failure_stats.settings import Settings

    params = tmp_path / "params.yaml"
    params.write_text("window: yesterday\npublish: file:///srv/from-file\n")
    settings = Settings(db_url=None, publish_url="file:///srv/from-setting")

    def chosen(*argv):
        args = build_parser().parse_args(["run", *argv])
        return choose_parameters(args, settings).policy.publish

    assert chosen("--window", "yesterday") == "file:///srv/from-setting"
    assert chosen("-f", str(params)) == "file:///srv/from-file"
    assert chosen("-f", str(params), "--publish", "az://flag/x") == "az://flag/x"


def test_a_failed_publish_keeps_the_report_and_exits_7(pg, cli_env, tmp_path):
    # 7 wins over the alert's 5, whose line is still printed.
    pg.seed()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    out = tmp_path / "out"
    result = cli(
        ["run", *SEED_WINDOW, "--output-dir", str(out), "--publish", f"{blocker.as_uri()}/r"]
        + ["--fail-above", "10%"],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == EXIT_DELIVERY == 7
    assert result.stderr.splitlines() == [
        "user-failure-stats: alert: overall failure rate 24.05% is above 10.00% for "
        "2025-05-21 00:00:00 to 2025-05-23 00:00:00 Asia/Kolkata (created_on >= 2025-05-20 "
        "18:30:00 and < 2025-05-22 18:30:00 UTC)",
        f"user-failure-stats: error: cannot publish to {blocker.as_uri()}/r: Not a directory "
        "(the report was written)",
    ]
    assert len(list(out.glob("user_failure_rates_*.html"))) == 1
    assert "Published:" not in result.stdout


def test_bad_publish_urls_stop_the_run_before_it_starts(pg, cli_env, tmp_path):
    out = tmp_path / "out"
    env = cli_env(pg.url)
    bad = cli(["run", *SEED_WINDOW, "--output-dir", str(out), "--publish", "ftp://x/y"], env, ".")
    assert bad.returncode == 2
    assert "publish must be a folder URL" in bad.stderr
    secret = f"s3://AK:{SECRET}@bucket/x"
    env_bad = cli_env(pg.url, PUBLISH_URL=secret)
    result = cli(["run", *SEED_WINDOW, "--output-dir", str(out)], env_bad, tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "user-failure-stats: error: PUBLISH_URL must not carry credentials, a query or a "
        "fragment: put them in the environment or .env (AZURE_STORAGE_CONNECTION_STRING, "
        "AWS_ACCESS_KEY_ID, ...)"
    ]
    assert not out.exists()


def test_check_reports_the_publish_target(pg, cli_env, tmp_path):
    pg.seed()
    www = tmp_path / "www"
    www.mkdir()
    result = cli(
        ["check", *SEED_WINDOW, "--publish", www.as_uri()],
        cli_env(pg.url, AWS_SECRET_ACCESS_KEY=SECRET),
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "publish target" in line]
    assert re.fullmatch(
        rf"\[ok\]   publish target: {re.escape(www.as_uri())} writable \(a probe file written "
        r"and removed, \d+ ms; storage settings: AWS_SECRET_ACCESS_KEY\)",
        line,
    ), line
    assert SECRET not in result.stdout + result.stderr
    assert list(www.iterdir()) == []  # the probe is gone


def test_check_fails_on_a_target_a_run_would_fail_on(pg, cli_env, tmp_path):
    pg.seed()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    url = f"{blocker.as_uri()}/sub"
    result = cli(["check", *SEED_WINDOW, "--publish", url], cli_env(pg.url), tmp_path)
    assert result.returncode == 7
    assert result.stdout.splitlines()[-1] == (
        f"[FAIL] publish target: cannot publish to {url}: Not a directory"
    )


# Azure Blob Storage, against the Azurite emulator.


def blob_names(connection: str, folder: str) -> dict[str, bytes]:
    import fsspec

    filesystem, path = fsspec.core.url_to_fs(f"az://{folder}", connection_string=connection)
    return {p.rsplit("/", 1)[-1]: filesystem.cat_file(p) for p in filesystem.ls(path, False)}


def make_container(connection: str, name: str) -> None:
    import fsspec

    filesystem, _ = fsspec.core.url_to_fs(f"az://{name}", connection_string=connection)
    filesystem.mkdir(name)


def test_an_azure_path_is_decoded_as_a_file_path_is(azurite, tmp_path):
    # az://reports/my%20reports is the folder "my reports", as file:///my%20reports is.
    # This process has used fsspec's event loop (make_container): the publishing child must
    # not wait on it (it hung with the fsspec floor).
    make_container(azurite, "reports")
    source = tmp_path / "a.html"
    source.write_text("a")
    target = Target(
        check_url("az://reports/my%20reports/caf%C3%A9"),
        {"AZURE_STORAGE_CONNECTION_STRING": azurite},
    )
    (link,) = publish(target, [source])
    assert blob_names(azurite, "reports/my reports/café") == {"a.html": b"a"}
    assert link == "az://reports/my%20reports/caf%C3%A9/a.html"
    assert missing(target, ["a.html", "b.html"]) == ["b.html"]


def test_run_publishes_to_azure_blob_storage(pg, cli_env, tmp_path, azurite):
    pg.seed()
    make_container(azurite, "reports")
    out = tmp_path / "out"
    env = cli_env(pg.url, AZURE_STORAGE_CONNECTION_STRING=azurite)
    result = cli(
        ["run", *SEED_WINDOW, "--output-dir", str(out), "--publish", "az://reports/calls/daily"],
        env,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (html,) = out.glob("user_failure_rates_*.html")
    blobs = blob_names(azurite, "reports/calls/daily")
    stamp = html.stem.removeprefix("user_failure_rates_")
    assert sorted(blobs) == [
        f".user_failure_rates_{stamp}.json",
        "index.html",
        html.name,
        f"user_failure_stats_{stamp}.csv",
    ]
    assert all(blobs[name] == (out / name).read_bytes() for name in blobs)
    assert f"Published: az://reports/calls/daily/{html.name}" in result.stdout
    assert AZURITE_KEY not in result.stdout + result.stderr


def test_azure_failures_are_one_line_without_the_key(pg, cli_env, tmp_path, azurite):
    make_container(azurite, "other")
    source = tmp_path / "a.html"
    source.write_text("a")
    wrong_key = azurite.replace(AZURITE_KEY[:20], "A" * 20)
    cases = {
        "no container": (azurite, "az://missing-container/x"),
        "wrong key": (wrong_key, "az://other/x"),
        "no credentials": (None, "az://other/x"),
    }
    lines = {}
    for name, (connection, url) in cases.items():
        storage = {"AZURE_STORAGE_CONNECTION_STRING": connection} if connection else {}
        with pytest.raises(PublishError) as caught:
            publish(Target(url, storage), [source])
        lines[name] = str(caught.value)
    assert lines == {
        "no container": "cannot publish to az://missing-container/x: No such container",
        "no credentials": "cannot publish to az://other/x: the storage settings are missing "
        "or malformed (see docs/publishing.md: AZURE_STORAGE_*, AWS_* in the environment "
        "or .env)",
        "wrong key": "cannot publish to az://other/x: HTTP 403 Forbidden (check the storage "
        "credentials in the environment or .env)",
    }
    assert all(AZURITE_KEY[20:] not in line for line in lines.values())
    # check tries what a run would, and fails the same way.
    pg.seed()
    check = cli(
        ["check", *SEED_WINDOW, "--publish", "az://missing-container/x"],
        cli_env(pg.url, AZURE_STORAGE_CONNECTION_STRING=azurite),
        tmp_path,
    )
    assert check.returncode == 7
    assert check.stdout.splitlines()[-1] == (
        "[FAIL] publish target: cannot publish to az://missing-container/x: No such container"
    )
    assert AZURITE_KEY[20:] not in check.stdout + check.stderr


def test_reports_pruned_locally_are_removed_from_the_target(pg, cli_env, tmp_path):
    pg.seed()
    out, www = tmp_path / "out", tmp_path / "www"
    out.mkdir()
    www.mkdir()
    plant_report(out, "20200101_000000", "2020-01-01T00:00:00+00:00")  # old, published
    plant_report(www, "20200101_000000", "2020-01-01T00:00:00+00:00")
    (www / "notes.txt").write_text("not a report's: stays")
    args = ["--output-dir", str(out), "--publish", www.as_uri(), "--keep-days", "30"]
    result = cli(["run", *SEED_WINDOW, *args], cli_env(pg.url), tmp_path)
    assert result.returncode == 0, result.stderr
    assert not any(www.glob("*20200101_000000*")) and not any(out.glob("*20200101_000000*"))
    local = sorted(p.name for p in out.iterdir() if p.suffix in (".html", ".csv", ".json"))
    assert published_names(www) == sorted([*local, "notes.txt"]) and len(local) == 4


def test_reports_pruned_on_their_own_are_removed_by_the_next_publish(pg, cli_env, tmp_path):
    from user_failure_stats import store

    pg.seed()
    out, www = tmp_path / "out", tmp_path / "www"
    out.mkdir()
    www.mkdir()
    for folder in (out, www):  # an old report, published earlier
        plant_report(folder, "20200101_000000", "2020-01-01T00:00:00+00:00")
    store.prune(out, 30)  # `prune` on its own: no target in sight
    assert list(store.pending_removals(out)) == list(names.published_names("20200101_000000"))
    result = cli(
        ["run", *SEED_WINDOW, "--output-dir", str(out), "--publish", www.as_uri()],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert not any(www.glob("*20200101_000000*"))
    assert store.pending_removals(out) == {}
    assert not (out / store.PENDING_NAME).exists()


def test_a_pending_list_others_could_write_removes_nothing_from_the_target(pg, cli_env, tmp_path):
    from user_failure_stats import store

    pg.seed()
    out, www = tmp_path / "out", tmp_path / "www"
    out.mkdir()
    www.mkdir()
    plant_report(www, "20200101_000000", "2020-01-01T00:00:00+00:00")  # another folder's
    sizes = {p.name: p.stat().st_size for p in www.iterdir()}
    pending = out / store.PENDING_NAME
    pending.write_text("".join(f"{n}\t{size}\n" for n, size in sizes.items()))
    pending.chmod(0o666)  # a shared folder: anyone could have written it
    result = cli(
        ["run", *SEED_WINDOW, "--output-dir", str(out), "--publish", www.as_uri()],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert all((www / name).exists() for name in sizes)
    assert result.stderr.splitlines() == [
        f"warning: {pending} is writable by other users: ignored, and the publish target "
        "keeps the reports it names (remove it)"
    ]


def test_a_report_another_user_could_have_written_is_neither_listed_nor_published(
    pg, cli_env, tmp_path
):
    # A shared folder: a planted page with a summary anyone could have written (or another
    # user's) is not one of ours: the index does not link it and the target does not get it.
    pg.seed()
    out, www = tmp_path / "out", tmp_path / "www"
    out.mkdir()
    out.chmod(0o1777)
    plant_report(out, "20250101_000000", "2025-01-01T00:00:00+00:00")  # ours
    plant_report(out, "20250102_000000", "2025-01-02T00:00:00+00:00")  # anyone's
    (out / "user_failure_rates_20250102_000000.html").write_text("<form action=//evil>")
    (out / ".user_failure_rates_20250102_000000.json").chmod(0o666)
    old_csv = out / "user_failure_stats_20250101_000000.csv"
    old_csv.chmod(0o664)  # ours, but the group may have changed it
    if os.geteuid() == 0:
        plant_report(out, "20250103_000000", "2025-01-03T00:00:00+00:00")  # another user's
        for path in out.glob("*20250103_000000*"):
            os.chown(path, 65534, 65534)
    result = cli(
        ["run", *SEED_WINDOW, "--output-dir", str(out), "--publish", www.as_uri(), "-q"],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    published = sorted(p.name for p in www.iterdir())
    assert "user_failure_rates_20250101_000000.html" in published
    assert not [name for name in published if "20250102" in name or "20250103" in name]
    assert old_csv.name not in published
    index = (out / "index.html").read_text()
    assert "20250101_000000" in index and "20250102" not in index and "20250103" not in index
    skipped = 2 if os.geteuid() == 0 else 1
    assert result.stderr.splitlines() == [
        f"warning: {skipped} reports in {out} left out (not listed, published or pruned): "
        "files of another user's, or that others may write (give each user a folder of their "
        "own, or chmod go-w the files)",
        f"warning: not published: {old_csv} (a link, another user's file, or one others may write)",
    ]


def test_the_names_to_remove_are_only_report_files_and_bounded(tmp_path):
    from user_failure_stats import store

    (tmp_path / store.PENDING_NAME).write_text(
        "user_failure_stats_20200101_000000.csv\t120\n../../etc/passwd\t1\nnotes.txt\t1\n"
        "user_failure_stats_20200101_000000.csv.bak\t1\n"
        ".user_failure_rates_20200101_000000.json\t450\n"
        "user_failure_rates_20200101_000000.html\n"  # no size: not what a prune writes
        "user_failure_rates_20200101_000000.ipynb\t-1\n"
    )
    assert store.pending_removals(tmp_path) == {
        "user_failure_stats_20200101_000000.csv": 120,
        ".user_failure_rates_20200101_000000.json": 450,
    }
    (tmp_path / store.PENDING_NAME).unlink()
    (tmp_path / store.PENDING_NAME).symlink_to(tmp_path / "elsewhere")
    assert store.pending_removals(tmp_path) == {}  # never through a link


def test_a_planted_link_is_never_published(pg, cli_env, tmp_path):
    pg.seed()
    out, www = tmp_path / "out", tmp_path / "www"
    out.mkdir()
    plant_report(out, "20250101_000000", "2025-01-01T00:00:00+00:00")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-OUTSIDE-THE-FOLDER")
    csv = out / "user_failure_stats_20250101_000000.csv"
    csv.unlink()
    csv.symlink_to(secret)  # the old report's CSV is a link to a file elsewhere
    result = cli(
        ["run", *SEED_WINDOW, "--output-dir", str(out), "--publish", www.as_uri(), "-q"],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert not (www / csv.name).exists()
    assert "SECRET-OUTSIDE" not in "".join(p.read_text() for p in www.glob("*.csv"))
    assert (www / "user_failure_rates_20250101_000000.html").exists()  # the rest of it goes
    assert result.stdout.count(" ") == 3  # the four paths written, on one line


def test_a_published_run_whose_pending_list_cannot_be_updated_warns(pg, cli_env, tmp_path):
    from user_failure_stats import store

    pg.seed()
    out, www = tmp_path / "out", tmp_path / "www"
    out.mkdir()
    (out / store.LOCK_NAME).mkdir()  # neither the index nor the pending list can be locked
    (out / store.PENDING_NAME).write_text("user_failure_rates_20200101_000000.html\t17\n")
    result = cli(
        ["run", *SEED_WINDOW, "--output-dir", str(out), "--publish", www.as_uri()],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Published: " in result.stdout
    lock = out / store.LOCK_NAME
    assert result.stderr.splitlines() == [
        f"warning: could not update the reports index: cannot lock {lock}: Is a directory",
        f"warning: could not note what the publish target removed: cannot lock {lock}: "
        "Is a directory",
    ]
    assert len(list(www.glob("user_failure_rates_*.html"))) == 1


def test_publish_copies_what_it_opened_never_through_a_link(tmp_path):
    # publish_result skips links, but one swapped in after that check must not be followed.
    secret = tmp_path / "secret.txt"
    secret.write_text("ROOT ONLY")
    link = tmp_path / "user_failure_stats_20250101_000000.csv"
    link.symlink_to(secret)
    folder = tmp_path / "www"
    with pytest.raises(PublishError):
        publish(Target(check_url(folder.as_uri())), [link])
    assert not (folder / link.name).exists()
    assert "ROOT ONLY" not in "".join(p.read_text() for p in folder.glob("*") if p.is_file())


def trickling_target(protocol: str, port: int) -> Target:
    """A target whose storage service answers one byte every 0.2 s."""
    if protocol == "s3":
        pytest.importorskip("s3fs")
        storage = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "key",
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_REGION": "us-east-1",
        }
        return Target("s3://reports/daily", storage)
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    return Target("az://reports/daily", {"AZURE_STORAGE_CONNECTION_STRING": connection})


@pytest.mark.parametrize("protocol", ["az", "s3"])
def test_a_storage_service_answering_a_byte_at_a_time_is_stopped_at_the_deadline(
    protocol, trickle_port, tmp_path, monkeypatch, capfd
):
    # Each byte restarts the storage library's read timeout: the publish must still end.
    target = trickling_target(protocol, trickle_port)
    report = tmp_path / "report.html"
    report.write_text("<p>report</p>")
    began = time.monotonic()
    with pytest.raises(PublishError) as caught:
        publish(target, [report], timeout=2)
    assert time.monotonic() - began < 10
    assert str(caught.value) == (
        f"cannot publish to {protocol}://reports/daily: no answer within 2 s, stopped "
        "(is the storage service reachable?)"
    )
    assert multiprocessing.active_children() == []
    # Listing the target (what a run does before it copies) and check's probe stop too.
    monkeypatch.setattr(publish_module, "DEADLINE_SECONDS", 1.0)
    with pytest.raises(PublishError, match="no answer within 1 s, stopped"):
        missing(target, ["report.html"])
    with pytest.raises(PublishError, match="no answer within 1 s, stopped"):
        publish_module.probe(target)
    assert time.monotonic() - began < 25
    assert capfd.readouterr() == ("", "")


def test_the_deadline_grows_with_what_is_copied(tmp_path):
    small = tmp_path / "small.csv"
    small.write_bytes(b"x" * 1000)
    large = tmp_path / "large.csv"
    large.write_bytes(b"x" * 5_000_000)
    assert publish_module.deadline([small]) == 120.01
    assert publish_module.deadline([small, large, tmp_path / "gone"]) == 170.01


def test_a_failure_inside_the_child_is_one_line(tmp_path):
    # An error raised in the publishing child comes back as the same line a run prints.
    (tmp_path / "taken").write_text("a file where the folder should be")
    report = tmp_path / "report.html"
    report.write_text("x")
    with pytest.raises(PublishError) as caught:
        publish(Target(f"file://{tmp_path}/taken/reports"), [report])
    assert str(caught.value) == (
        f"cannot publish to file://{tmp_path}/taken/reports: Not a directory"
    )
