"""The package as users install it: a wheel, not the checkout."""

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.helpers import SEED_WINDOW

ROOT = Path(__file__).resolve().parents[1]


def _printed(python: Path, code: str, **options) -> str:
    """What ``python -c code`` prints (it must succeed)."""
    result = subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True, **options
    )
    return result.stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the package built and installed as a wheel (not editable).

    Its dependencies come from the test run's own environment (a .pth file), so this needs no
    network; the package itself is only in the wheel.
    """
    base = tmp_path_factory.mktemp("wheel")
    wheels = base / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("user_failure_stats-*.whl")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = _printed(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    # The test environment's packages, minus this project's editable install.
    dependencies = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "dependencies.pth").write_text("\n".join(dependencies) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            site,
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return env_dir


def test_a_wheel_install_runs_a_report_from_an_empty_directory(installed, pg, tmp_path):
    pg.seed()
    empty = tmp_path / "anywhere"
    empty.mkdir()
    env = {
        "PATH": f"{installed / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "DB_URL": pg.url,
        "DB_TIMEZONE": "UTC",
        # The borrowed dependencies' data files (nbconvert's templates) are in their prefix.
        "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
    }
    python = installed / "bin" / "python"
    where = _printed(
        python, "import user_failure_stats; print(user_failure_stats.__file__)", cwd=empty, env=env
    )
    assert str(installed) in where and str(ROOT) not in where  # the wheel, not the checkout
    run = subprocess.run(
        [str(python), "-m", "user_failure_stats", "run", "--verbose", *SEED_WINDOW],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    written = sorted(p.name for p in (empty / "reports").iterdir())
    assert [n.rsplit("_", 2)[0] for n in written if not n.startswith(".")] == [
        "index.html",
        "user_failure_rates",
        "user_failure_rates",
        "user_failure_stats",
    ]
    assert "Total Sessions:       341" in run.stdout


def test_every_public_name_of_the_package_loads():
    import user_failure_stats

    for name in user_failure_stats.__all__:
        assert getattr(user_failure_stats, name) is not None, name
    assert user_failure_stats.make_engine.__module__ == "user_failure_stats.database"
    assert user_failure_stats.fetch_user_counts.__module__ == "user_failure_stats.queries"
