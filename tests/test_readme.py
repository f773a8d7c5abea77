"""Every command the README and docs/ show for running reports works as written, on the
demo data; the README stays short, its links resolve, and docs/cli.md is current."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_reference import reference
from tests.helpers import docs_text
from user_failure_stats import demo
from user_failure_stats.database import driver_url

ROOT = Path(__file__).resolve().parents[1]
# The commands a reader copies to check and run reports; the rest (make demo, make test,
# deploying, cron and systemd on /srv) are tried by their own tests or need a server.
RUNNABLE = re.compile(
    r"^(\.venv/bin/user-failure-stats (check|run) |make (run|check)\b|cd notebooks && )"
)


def readme_commands() -> list[str]:
    """The runnable commands of the README and docs/, each once, in the order shown."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", docs_text(), flags=re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if RUNNABLE.match(command) and command not in commands:
                commands.append(command)
    return commands


def test_the_docs_show_the_commands_this_test_runs():
    commands = readme_commands()
    assert len(commands) == 7, commands
    assert any("--each day" in c for c in commands)
    assert any("--now" in c for c in commands)
    assert any("papermill" in c for c in commands)


def test_the_readme_is_a_short_landing_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for heading in (
        "## Install",
        "## Quick start",
        "## Point it at your database",
        "## Run a report",
        "## Schedule it",
        "## Troubleshooting",
    ):
        assert heading in readme, heading


def test_every_link_between_the_pages_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) >= 12
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#:]+\.(?:md|png))(?:#[^)]*)?\)", text):
            assert (page.parent / target).is_file(), (page.name, target)
        for target, anchor in re.findall(r"\]\(([^)#:]*\.md)#([^)]+)\)", text):
            headings = (page.parent / target).read_text(encoding="utf-8")
            slugs = {
                re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", headings, flags=re.M)
            }
            assert anchor in slugs, (page.name, target, anchor)


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="docs/cli.md is made on Python 3.11")
def test_the_command_line_reference_is_current():
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == reference(), (
        "docs/cli.md is out of date: run make docs"
    )


@pytest.fixture(scope="module")
def demo_url(admin_url):
    import sqlalchemy as sa

    from tests.conftest import _create_database

    url = _create_database(admin_url, "ufs_readme")
    demo.load_demo_data(url)
    yield url
    admin = sa.create_engine(driver_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text('DROP DATABASE IF EXISTS "ufs_readme" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.skipif(not (ROOT / ".venv" / "bin").is_dir(), reason="the README's .venv is absent")
@pytest.mark.parametrize("command", readme_commands())
def test_each_readme_command_works_as_written(command, demo_url, cli_env, tmp_path):
    env = cli_env(demo_url, OUTPUT_DIR=str(tmp_path / "reports"))
    result = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr}"
    words = shlex.split(command)
    written = sorted((tmp_path / "reports").glob("user_failure_stats_*.csv"))
    if "check" in words:
        assert "[FAIL]" not in result.stdout
        assert written == []
    elif "--each" in words:
        assert len(written) == 3
        for path in written:  # every day of the backfill has calls in the demo data
            assert len(path.read_text().splitlines()) > 100, path.name
    else:
        assert len(written) == 1
        assert len(written[0].read_text().splitlines()) > 100
