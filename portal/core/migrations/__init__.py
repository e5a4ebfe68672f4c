"""The database schema as an ordered list of migrations, one file each.

Every database, a brand-new one included, gets its schema by running, in order, every
migration above its stamped version; each runs in its own transaction and stamps its number in
``schema_version``, so a failed step changes nothing and the next ``flask db upgrade`` retries
it. There is one path: the schema a new database gets is the one an upgraded database gets.

A migration file never imports ``portal.core.models``: it holds the DDL, or the frozen peewee
classes, of its own version, so a later change to the models cannot change what it does.
``tests/test_migrations.py`` checks that the migrations build exactly the tables, columns,
indexes and constraints the models describe, and that upgrading a database of every earlier
version keeps every row.

To change the schema:

1. Change the model in ``portal/core/models.py``.
2. Add ``portal/core/migrations/vNNNN_what_it_does.py``, numbered one above the last file::

       \"\"\"Version NNNN: why the schema changes.\"\"\"
       from peewee import IntegerField
       from playhouse.migrate import migrate

       description = "seats limit on accounts"

       def upgrade(db, migrator):
           migrate(migrator.add_column("account", "seats", IntegerField(null=True)))

   ``db`` is the database, ``migrator`` a ``playhouse.migrate.SchemaMigrator`` for it. Use
   frozen field instances (``IntegerField(...)``), never a model's field, and write a step
   that works on SQLite and PostgreSQL. On SQLite foreign keys are off during a migration
   (altering a column rebuilds the table) and checked before each step commits.
3. In ``tests/test_migrations.py``, teach ``FILL`` what a database of the previous version
   holds, so the upgrade test can check that your step keeps it.

Never edit or renumber a released migration.
"""
import importlib
import pkgutil
import re
from typing import Callable, NamedTuple

from peewee import DateTimeField, IntegerField, Model
from playhouse.migrate import SchemaMigrator

from portal.core.db import db, is_sqlite
from portal.core.models import utcnow

#: ``v0001_initial.py``: four digits, then what the migration does.
FILE_NAME = re.compile(r"^v(\d{4})_\w+$")


SCHEMA_VERSION_TABLE = "schema_version"


class SchemaVersion(Model):
    version = IntegerField(primary_key=True)
    applied_at = DateTimeField(default=utcnow)

    class Meta:
        database = db
        table_name = SCHEMA_VERSION_TABLE


class Migration(NamedTuple):
    version: int
    description: str
    upgrade: Callable


def load_migrations():
    """The migration files of this package, in order; a gap or a duplicate number is an error."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        match = FILE_NAME.match(module.name)
        if match:
            step = importlib.import_module(f"{__name__}.{module.name}")
            found.append(Migration(int(match.group(1)), step.description, step.upgrade))
    found.sort(key=lambda m: m.version)
    numbers = [m.version for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration files must be numbered 1, 2, 3…; found {numbers}")
    return found


MIGRATIONS = load_migrations()
LATEST = MIGRATIONS[-1].version


def version_table_exists():
    """Whether the version table is where the connection's statements find it. On
    PostgreSQL that is the first schema of the search path that has it, which need not be
    ``public`` (a database shared with other applications keeps the portal's tables in a
    schema of their own); peewee's ``table_exists`` looks in ``public`` only, which made a
    second ``db upgrade`` apply migration 1 again."""
    if is_sqlite():
        return SchemaVersion.table_exists()
    return db.execute_sql("SELECT to_regclass(%s) IS NOT NULL",
                          (SCHEMA_VERSION_TABLE,)).fetchone()[0]


def current_version():
    """The stamped schema version, 0 for an empty database."""
    if not version_table_exists():
        return 0
    latest = SchemaVersion.select(SchemaVersion.version).order_by(
        SchemaVersion.version.desc()).first()
    return latest.version if latest else 0


def upgrade(target=None):
    """Run every migration above the stamped version, up to ``target`` (default: the
    newest); returns the list of versions applied."""
    target = LATEST if target is None else target
    with db.connection_context():
        db.create_tables([SchemaVersion])
        version = current_version()
        applied = []
        migrator = SchemaMigrator.from_database(db.obj)
        # SQLite rebuilds a table to alter a column: with foreign keys enforced, dropping the
        # old table would delete (or be refused by) the rows pointing at it. The pragma only
        # changes outside a transaction; each step checks the keys before it commits.
        sqlite = is_sqlite()
        if sqlite:
            db.execute_sql("PRAGMA foreign_keys = OFF")
        try:
            for migration in MIGRATIONS:
                if not version < migration.version <= target:
                    continue
                with db.atomic():
                    migration.upgrade(db, migrator)
                    if sqlite and db.execute_sql("PRAGMA foreign_key_check").fetchall():
                        raise RuntimeError(f"migration {migration.version} broke a foreign key")
                    SchemaVersion.create(version=migration.version)
                applied.append(migration.version)
        finally:
            if sqlite:
                db.execute_sql("PRAGMA foreign_keys = ON")
        return applied
