"""Fast tenant schemas: a copy of the migrated template schema, made by one batch of DDL.

Replaying every migration per tenant costs ~0.2 s and grows with the project's migrations;
django-tenants' `clone_schema` (pg-clone-schema) walks information_schema and took seconds once a
few hundred tenant schemas existed (bench/tenant_create.py). Instead:

1. Read the template schema from the catalog once per process (and again whenever the template's
   `django_migrations` changes): tables (partitioned ones too), columns, identity columns,
   constraints, indexes, triggers, and the rows it holds (migration records, content types,
   permissions). Functions and views are not copied: a trigger's function lives in the public
   schema (the audit log's guard, apps/governance/migrations/0003_audit_log.py).
2. Turn that into one SQL script whose object names are unqualified: it is generated with
   `search_path` set to the template alone, so `pg_get_constraintdef` and `pg_get_indexdef` leave
   the template's own names unqualified.
3. Provisioning a tenant = `CREATE SCHEMA`, `SET search_path` to it alone, run the script, in the
   caller's transaction. Its cost does not depend on how many tenants exist.

Only DDL lives here: analytics SQL belongs to apps/insights.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from psycopg import sql

_lock = threading.Lock()
_cached: tuple[tuple, str] | None = None


@dataclass(frozen=True)
class _Table:
    oid: int
    name: str
    kind: str  # 'r' table, 'p' partitioned table
    parent: str | None  # set for a partition
    bound: str | None  # FOR VALUES ... of a partition
    partition_key: str | None  # PARTITION BY ... of a partitioned table


def _q(name: str) -> str:
    return sql.Identifier(name).as_string(connection.connection)


def _template_fingerprint(cursor, template: str) -> tuple:  # noqa: ANN001
    cursor.execute(
        sql.SQL("SELECT count(*), coalesce(max(id), 0) FROM {}.django_migrations").format(sql.Identifier(template))
    )
    return (template, *cursor.fetchone())


def _generate(cursor, template: str) -> str:  # noqa: ANN001
    """The DDL + data script that recreates `template` in whatever schema is first on search_path."""
    cursor.execute(
        """
        SELECT c.oid, c.relname, c.relkind,
               CASE WHEN c.relispartition THEN (SELECT p.relname FROM pg_inherits i JOIN pg_class p
                                                ON p.oid = i.inhparent WHERE i.inhrelid = c.oid) END,
               CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END,
               CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
        ORDER BY c.relispartition, c.oid
        """,
        [template],
    )
    tables = [_Table(*row) for row in cursor.fetchall()]
    statements: list[str] = []

    # Sequences that are not an identity column's (those come with their column): created before
    # the tables whose defaults call nextval() on them, attached to their column afterwards.
    cursor.execute(
        """
        SELECT c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
               s.seqcache, s.seqcycle, t.relname, a.attname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_sequence s ON s.seqrelid = c.oid
        LEFT JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype = 'a'
        LEFT JOIN pg_class t ON t.oid = d.refobjid
        LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE n.nspname = %s AND c.relkind = 'S'
          AND NOT EXISTS (SELECT 1 FROM pg_depend i WHERE i.objid = c.oid AND i.deptype = 'i')
        ORDER BY c.oid
        """,
        [template],
    )
    ownerships: list[str] = []
    for name, type_, start, increment, minimum, maximum, cache, cycle, owner_table, owner_column in cursor.fetchall():
        statements.append(
            f"CREATE SEQUENCE {_q(name)} AS {type_} INCREMENT {increment} MINVALUE {minimum} MAXVALUE {maximum} "
            f"START {start} CACHE {cache}{' CYCLE' if cycle else ''}"
        )
        if owner_table:
            ownerships.append(f"ALTER SEQUENCE {_q(name)} OWNED BY {_q(owner_table)}.{_q(owner_column)}")
    copies: list[str] = []
    identities: list[str] = []

    for table in tables:
        if table.parent:
            statements.append(f"CREATE TABLE {_q(table.name)} PARTITION OF {_q(table.parent)} {table.bound}")
            continue
        cursor.execute(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
                   a.attgenerated, pg_get_expr(d.adbin, d.adrelid),
                   CASE WHEN a.attcollation <> t.typcollation THEN co.collname END
            FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            LEFT JOIN pg_collation co ON co.oid = a.attcollation
            WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
            [table.oid],
        )
        columns, plain_columns, has_identity = [], [], False
        for name, type_, not_null, identity, generated, default, collation in cursor.fetchall():
            column = f"{_q(name)} {type_}"
            if collation:
                column += f" COLLATE {_q(collation)}"
            if identity:
                has_identity = True
                column += " GENERATED ALWAYS AS IDENTITY" if identity == "a" else " GENERATED BY DEFAULT AS IDENTITY"
                identities.append(
                    f"SELECT setval(pg_get_serial_sequence({_literal(table.name)}, {_literal(name)}), "
                    f"coalesce((SELECT max({_q(name)}) FROM {_q(table.name)}), 0) + 1, false)"
                )
            elif generated == "s":
                column += f" GENERATED ALWAYS AS ({default}) STORED"
            elif default is not None:
                column += f" DEFAULT {default}"
            if not_null:
                column += " NOT NULL"
            columns.append(column)
            if generated != "s":
                plain_columns.append(_q(name))
        partition = f" PARTITION BY {table.partition_key}" if table.partition_key else ""
        statements.append(f"CREATE TABLE {_q(table.name)} ({', '.join(columns)}){partition}")
        if table.kind == "r":
            cols = ", ".join(plain_columns)
            overriding = " OVERRIDING SYSTEM VALUE" if has_identity else ""
            copies.append(
                f"INSERT INTO {_q(table.name)} ({cols}){overriding} "
                f"SELECT {cols} FROM {_q(template)}.{_q(table.name)}"
            )

    # Constraints: primary keys and uniques before foreign keys. Skip those a partition inherits.
    cursor.execute(
        """
        SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND k.contype IN ('p', 'u', 'c', 'x', 'f') AND k.conparentid = 0
          AND NOT (k.contype = 'c' AND k.coninhcount > 0)
        ORDER BY k.contype = 'f', k.oid
        """,
        [template],
    )
    constraints = [
        f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(name)} {definition}"
        for table, name, definition in cursor.fetchall()
    ]
    # Indexes that no constraint owns and that are not a partition's copy of a parent's index.
    cursor.execute(
        """
        -- pg_get_indexdef qualifies the table whatever the search_path: drop the template's name.
        -- A partitioned table's index reads ON ONLY; without ONLY it recurses to the partitions.
        SELECT replace(replace(pg_get_indexdef(i.indexrelid),
                               ' ON ONLY ' || quote_ident(n.nspname) || '.', ' ON '),
                       ' ON ' || quote_ident(n.nspname) || '.', ' ON ')
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
        WHERE n.nspname = %s
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p','u','x'))
          AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
        ORDER BY i.indexrelid
        """,
        [template],
    )
    indexes = [row[0] for row in cursor.fetchall()]
    # Triggers (the audit log's append-only guard, for one), after the rows are copied so they do
    # not fire on the copy. Their functions live outside the template (the public schema), so a
    # trigger's definition names them qualified; a partition's clone of its parent's trigger comes
    # with the partition.
    cursor.execute(
        """
        SELECT replace(pg_get_triggerdef(t.oid, true), ' ON ' || quote_ident(n.nspname) || '.', ' ON ')
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND NOT t.tgisinternal AND t.tgparentid = 0
        ORDER BY t.oid
        """,
        [template],
    )
    triggers = [row[0] for row in cursor.fetchall()]
    # Foreign keys are added after the rows are copied, so copying order does not matter.
    foreign = [c for c in constraints if " FOREIGN KEY " in c]
    others = [c for c in constraints if " FOREIGN KEY " not in c]
    return ";\n".join([*statements, *ownerships, *others, *copies, *identities, *indexes, *foreign, *triggers]) + ";"


def _literal(value: str) -> str:
    return sql.Literal(value).as_string(connection.connection)


def _script() -> str:
    global _cached
    template = settings.TENANT_BASE_SCHEMA
    with connection.cursor() as cursor:
        fingerprint = _template_fingerprint(cursor, template)
        with _lock:
            if _cached is None or _cached[0] != fingerprint:
                cursor.execute("SELECT current_setting('search_path')")
                previous = cursor.fetchone()[0]
                cursor.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(template)))
                try:
                    _cached = (fingerprint, _generate(cursor, template))
                finally:
                    cursor.execute(f"SET search_path = {previous}")
                    _forget_search_path()
            return _cached[1]


def schema_provision(schema_name: str) -> None:
    """Create `schema_name` as a copy of the template schema (tables, indexes, constraints, triggers, rows).

    Runs in the caller's transaction: if the caller rolls back, the schema is gone too."""
    script = _script()
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema_name)))
        cursor.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema_name)))
        try:
            cursor.execute(script)
        finally:
            _forget_search_path()


def _forget_search_path() -> None:
    """This module set search_path behind the backend's back: make it issue its own SET next time."""
    connection.search_path_set_schemas = None
    connection._known_path = None  # apps.core.postgresql_backend's memory of the real path
