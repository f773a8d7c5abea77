"""What ``check`` asks the database about its schema, rights, indexes and plan."""

from __future__ import annotations

import json

import sqlalchemy as sa

from user_failure_stats.database import (
    columns,
    connection,
    prepare,
    require_types,
    table_name,
    window_bounds,
)
from user_failure_stats.formats import plural
from user_failure_stats.queries import calllog, users, window_counts_query
from user_failure_stats.settings import Settings
from user_failure_stats.text import shown
from user_failure_stats.window import Window

WRITE_PRIVILEGES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")
CREATE_INDEX_SQL = (
    "CREATE INDEX CONCURRENTLY calllog_created_on_idx ON public.calllog (created_on);"
)
# A partitioned table takes no CONCURRENTLY: this one reaches every partition, present and future.
CREATE_PARTITIONED_INDEX_SQL = "CREATE INDEX calllog_created_on_idx ON public.calllog (created_on);"


WANTED = [(t.name, c.name) for t in (calllog, users) for c in t.columns]
PLAN_LIMIT = 200  # characters of a plan's description


def _columns(engine: sa.Engine) -> dict[tuple[str, str], tuple[str, bool]]:
    with connection(engine) as conn:
        return columns(conn)


def column_types(engine: sa.Engine) -> dict[tuple[str, str], str]:
    """Return each report table column's type (a domain's base): ``{(table, column): type}``."""
    return {key: kind for key, (kind, _) in _columns(engine).items()}


def missing_columns(engine: sa.Engine) -> list[str]:
    """Return the required tables (when absent) or columns the database lacks, by name."""
    present = _columns(engine)
    tables = {t for t, _ in present}
    missing = [table_name(t) for t in dict.fromkeys(t for t, _ in WANTED) if t not in tables]
    return missing + [table_name(t, c) for t, c in WANTED if t in tables and (t, c) not in present]


def unreadable_columns(engine: sa.Engine) -> list[str]:
    """Return the required columns the role may not SELECT, by name."""
    present = _columns(engine)
    return [table_name(t, c) for t, c in WANTED if (t, c) in present and not present[t, c][1]]


def describe_types(types: dict[tuple[str, str], str], db_timezone: str) -> str:
    """Say how ``created_on`` is read; DatabaseError unless the types are usable.

    See :func:`~user_failure_stats.database.require_types`.
    """
    require_types(types)
    if types.get(("calllog", "created_on")) == "timestamp with time zone":
        return "created_on is timestamptz: instants, DB_TIMEZONE does not apply"
    return f"created_on is timestamp without time zone, read in DB_TIMEZONE {db_timezone}"


def table_facts(engine: sa.Engine) -> dict[str, tuple[str, bool]]:
    """Return ``{table: (relkind, row security active for this role)}`` for the report's tables.

    ``relkind`` is PostgreSQL's: ``r`` a table, ``p`` partitioned, ``v`` a view...
    """
    query = sa.text(
        """
        SELECT c.relname, c.relkind::text, pg_catalog.row_security_active(c.oid)
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = :schema AND c.relname IN ('calllog', 'user')
        """
    )
    with connection(engine) as conn:
        rows = conn.execute(query, {"schema": "public"})
        return {name: (kind, bool(active)) for name, kind, active in rows}


def write_privileges(settings_or_engine: Settings | sa.Engine) -> list[str]:
    """Return what the connected role may change in the report's tables, for ``check``.

    Counted are the rights of the role and every role it may ``SET ROLE`` to, on the table or
    any column (``INSERT``/``UPDATE`` can be granted per column); empty for a read-only role.
    """
    query = sa.text(
        """
        SELECT t.name, p.privilege
        FROM unnest(CAST(:tables AS text[])) WITH ORDINALITY AS t(name, i)
        CROSS JOIN unnest(CAST(:privileges AS text[])) WITH ORDINALITY AS p(privilege, j)
        WHERE EXISTS (
            SELECT 1 FROM pg_roles r
            WHERE pg_has_role(current_user, r.oid, 'MEMBER')
              AND CASE WHEN p.privilege IN ('INSERT', 'UPDATE')
                       THEN has_any_column_privilege(r.oid, t.name, p.privilege)
                       ELSE has_table_privilege(r.oid, t.name, p.privilege) END
        )
        ORDER BY t.i, p.j
        """
    )
    tables = ["public.calllog", 'public."user"']
    with connection(settings_or_engine) as conn:
        granted = conn.execute(
            query, {"tables": tables, "privileges": list(WRITE_PRIVILEGES)}
        ).all()
    return [
        f"{', '.join(p for t, p in granted if t == table)} on {table}"
        for table in tables
        if any(t == table for t, _ in granted)
    ]


def created_on_indexes(settings_or_engine: Settings | sa.Engine) -> list[str]:
    """Return the names of the indexes on ``public.calllog`` that lead with ``created_on``."""
    query = sa.text(
        """
        SELECT i.relname
        FROM pg_index x
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
        WHERE n.nspname = :schema AND t.relname = :table AND a.attname = :column
          AND x.indisvalid
        ORDER BY i.relname
        """
    )
    with connection(settings_or_engine) as conn:
        rows = conn.execute(query, {"schema": "public", "table": "calllog", "column": "created_on"})
        return [row[0] for row in rows]


def indexed_partitions(settings_or_engine: Settings | sa.Engine) -> tuple[int, int]:
    """Return the number of ``public.calllog``'s partitions, and of those with an index.

    An index counts when it leads with ``created_on``: the partition's own, or one made on
    the partitioned table (which every partition gets).
    """
    query = sa.text(
        """
        SELECT count(*), count(*) FILTER (WHERE EXISTS (
            SELECT FROM pg_index x
            JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
            WHERE x.indrelid = t.relid AND a.attname = :column AND x.indisvalid))
        FROM pg_partition_tree(to_regclass(:table)) t
        WHERE t.isleaf
        """
    )
    with connection(settings_or_engine) as conn:
        leaves, indexed = conn.execute(
            query, {"table": "public.calllog", "column": "created_on"}
        ).one()
    return int(leaves), int(indexed)


def query_plan(settings_or_engine: Settings | sa.Engine, window: Window) -> str:
    """Return how PostgreSQL plans (EXPLAIN, not run) to read ``calllog`` for the window."""
    from sqlalchemy.dialects import postgresql

    compiled = window_counts_query().compile(dialect=postgresql.dialect())
    with connection(settings_or_engine) as conn:
        params = compiled.params | window_bounds(window, prepare(conn)[1])
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), params).scalar()
    return plan_text(plan)


def plan_text(plan) -> str:
    """Describe ``EXPLAIN (FORMAT JSON)``'s answer (text or parsed), whatever the server sent."""
    try:
        plan = json.loads(plan) if isinstance(plan, str | bytes) else plan
        text = describe_scan(plan[0]["Plan"])
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
        return "unreadable (the server's EXPLAIN is not PostgreSQL's JSON)"
    return shown(text, PLAN_LIMIT) if isinstance(text, str) and text else "unknown"


def describe_scan(node: dict) -> str:
    """Describe the node that reads ``calllog`` and its index (a Citus coordinator: its job)."""
    if str(node.get("Custom Plan Provider", "")).startswith("Citus"):
        return _citus(node.get("Distributed Query") or {})
    below = next(filter(None, map(describe_scan, node.get("Plans", []))), "")  # first one found
    if node.get("Relation Name") == "calllog":
        text = str(node["Node Type"])
        if "Index Name" in node:
            text += f" using {node['Index Name']}"
        return f"{text} ({below})" if below else text
    if node.get("Node Type") == "Bitmap Index Scan" and "Index Name" in node:
        return f"Bitmap Index Scan using {node['Index Name']}"
    return below


def _citus(query: dict) -> str:
    """Describe a Citus job: its subplans' shard tasks (CTEs, UNION ALL), then its own."""
    tasks = (query.get("Job") or {}).get("Task Count")
    if not isinstance(tasks, int):
        return "Citus distributed plan"
    inner = [count for sub in query.get("Subplans") or [] for count in _task_counts(sub)[:1]]
    if not inner:
        return f"Citus: {plural(tasks, 'shard task')}"
    counts = (
        f"{plural(inner[0], 'shard task')} each"
        if len(set(inner)) == 1
        else f"{' and '.join(f'{c:,}' for c in inner)} shard tasks"
    )
    return (
        f"Citus: {plural(len(inner), 'subplan')} of {counts}, then "
        f"{plural(tasks, 'task')} on their results"
    )


def _task_counts(value) -> list[int]:
    """The task counts of the Citus jobs in a plan's JSON, outermost first."""
    if isinstance(value, list):
        return [count for item in value for count in _task_counts(item)]
    if not isinstance(value, dict):
        return []
    query = value.get("Distributed Query")
    found = (query.get("Job") or {}).get("Task Count") if isinstance(query, dict) else None
    head = [found] if isinstance(found, int) else []
    return head + [count for item in value.values() for count in _task_counts(item)]
