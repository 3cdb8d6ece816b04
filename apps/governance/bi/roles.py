"""PostgreSQL login roles for BI tools: made, given a password, granted the BI views, dropped.

Every identifier is quoted with psycopg.sql and every value is a literal psycopg.sql builds: role
statements take no bound parameters. The password never reaches the server in clear: the role gets
the SCRAM-SHA-256 verifier computed here (the server stores verifiers as they are given).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

from psycopg import sql

SCRAM_ITERATIONS = 4096  # PostgreSQL's own default (scram_iterations)
_ROLE_ALPHABET = string.ascii_lowercase + string.digits


def password_new() -> str:
    """A long random password (256 bits), URL-safe so it fits a connection string as it is."""
    return secrets.token_urlsafe(32)


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, as
    src/common/scram-common.c builds it). The password is ASCII, so SASLprep leaves it as it is."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def role_name_new(slug: str) -> str:
    """bi_<slug>_<8 random characters>: roles are global to the cluster, so the random part keeps
    two tenants' (and two databases') roles apart; at most 52 characters (the limit is 63)."""
    suffix = "".join(secrets.choice(_ROLE_ALPHABET) for _ in range(8))
    return f"bi_{slug.replace('-', '_')}_{suffix}"


def role_comment(tenant_schema: str) -> str:
    """The comment that marks a role as a BI credential of one tenant (roles are shared by every
    database of the cluster, so cleaning up finds them by it)."""
    return f"analytics BI credential of schema {tenant_schema}"


def may_manage_roles(cursor) -> bool:  # noqa: ANN001
    cursor.execute("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
    row = cursor.fetchone()
    return bool(row and row[0])


def database_harden(cursor) -> None:  # noqa: ANN001
    """What PUBLIC holds that a BI role must not (see migrations/0004_bi_credentials.py): CREATE on
    the public schema before PostgreSQL 15, temporary tables in this database. Idempotent; a user
    that owns neither gets a warning from the server, not an error."""
    cursor.execute("SHOW server_version_num")
    if int(cursor.fetchone()[0]) < 150000:
        cursor.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    database = sql.Identifier(current_database(cursor))
    cursor.execute("SELECT has_database_privilege('public', current_database(), 'TEMPORARY')")
    if cursor.fetchone()[0]:
        cursor.execute(sql.SQL("GRANT TEMPORARY ON DATABASE {} TO CURRENT_USER").format(database))
        cursor.execute(sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(database))


def current_database(cursor) -> str:  # noqa: ANN001
    cursor.execute("SELECT current_database()")
    return cursor.fetchone()[0]


def role_create(cursor, *, role: str, password: str, connection_limit: int, statement_timeout_ms: int,  # noqa: ANN001
                tenant_schema: str, bi_schema: str, views: tuple[str, ...]) -> None:
    """A login role that reads the BI views and nothing else: no superuser, no database or role
    creation, no inherited rights, a connection limit, a statement timeout, read-only
    transactions, and the BI schema first on its search path."""
    name, bi = sql.Identifier(role), sql.Identifier(bi_schema)
    cursor.execute(sql.SQL(
        "CREATE ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS "
        "CONNECTION LIMIT {} PASSWORD {}"
    ).format(name, sql.Literal(int(connection_limit)), sql.Literal(scram_verifier(password))))
    cursor.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(name, sql.Literal(role_comment(tenant_schema))))
    for setting, value in (("statement_timeout", str(int(statement_timeout_ms))),
                           ("default_transaction_read_only", "on"),
                           ("search_path", bi_schema),
                           ("idle_in_transaction_session_timeout", "60000")):
        cursor.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(name, sql.Identifier(setting), sql.Literal(value)))
    cursor.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(current_database(cursor)), name))
    cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(bi, name))
    views_grant(cursor, roles=[role], bi_schema=bi_schema, views=views)


def views_grant(cursor, *, roles: list[str], bi_schema: str, views: tuple[str, ...]) -> None:  # noqa: ANN001
    if not roles:
        return
    cursor.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(
        sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(bi_schema), sql.Identifier(v)) for v in views),
        sql.SQL(", ").join(sql.Identifier(r) for r in roles),
    ))


def role_set_password(cursor, *, role: str, password: str) -> None:  # noqa: ANN001
    cursor.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role),
                                                               sql.Literal(scram_verifier(password))))


def role_exists(cursor, role: str) -> bool:  # noqa: ANN001
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    return cursor.fetchone() is not None


def role_disable(cursor, *, role: str) -> None:  # noqa: ANN001
    """No new connections (commit this before ending the open ones, so none slips in between)."""
    cursor.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))


def role_sessions_end(cursor, *, role: str, wait_ms: int = 5000) -> int:  # noqa: ANN001
    """End the role's open sessions, waiting up to wait_ms for each to go. How many there were."""
    cursor.execute("SELECT count(pg_terminate_backend(pid, %s)) FROM pg_stat_activity WHERE usename = %s",
                   [wait_ms, role])
    return cursor.fetchone()[0]


def role_drop(cursor, *, role: str, bi_schema: str) -> None:  # noqa: ANN001
    """Take back its rights in this database, then drop it."""
    name, bi = sql.Identifier(role), sql.Identifier(bi_schema)
    cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [bi_schema])
    if cursor.fetchone() is not None:
        cursor.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(bi, name))
        cursor.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(bi, name))
    cursor.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(sql.Identifier(current_database(cursor)), name))
    cursor.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(name))
