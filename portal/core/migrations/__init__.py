"""Schema creation and ordered migrations.

A new database is created at the newest schema and stamped with the newest version. An
existing database is upgraded by running, in order, every migration above its stamped
version, each in its own transaction, so data is never lost and a failed step changes nothing.
To change the schema: change the model, then append a migration that brings an existing
database to the same shape (``playhouse.migrate`` helps).
"""
from peewee import IntegerField, DateTimeField, Model
from playhouse.migrate import SchemaMigrator, migrate

from portal.core.db import db, is_sqlite
from portal.core.models import ALL_MODELS, User, utcnow


class SchemaVersion(Model):
    version = IntegerField(primary_key=True)
    applied_at = DateTimeField(default=utcnow)

    class Meta:
        database = db
        table_name = "schema_version"


def _initial(migrator):
    """Version 1: the original tables."""
    db.create_tables(ALL_MODELS)


def _login_throttling(migrator):
    """Version 2: per-user failed-login counter and temporary lock."""
    columns = {c.name for c in db.get_columns("user")}
    # A plain ADD COLUMN with a default: playhouse would add it nullable and then rebuild the
    # "user" table on SQLite to make it NOT NULL, and dropping the old table cascades to the
    # license assignments and cart items (and is refused by orders).
    if "failed_logins" not in columns:
        db.execute_sql('ALTER TABLE "user" ADD COLUMN "failed_logins" INTEGER NOT NULL DEFAULT 0')
    if "locked_until" not in columns:
        migrate(migrator.add_column("user", "locked_until", User.locked_until))


#: (version, description, function); append only, never reorder or edit a released step.
MIGRATIONS = [
    (1, "initial schema", _initial),
    (2, "login throttling columns on users", _login_throttling),
]
LATEST = MIGRATIONS[-1][0]


def current_version():
    """The stamped schema version, 0 for an empty database."""
    if not SchemaVersion.table_exists():
        return 0
    latest = SchemaVersion.select(SchemaVersion.version).order_by(
        SchemaVersion.version.desc()).first()
    return latest.version if latest else 0


def upgrade():
    """Bring the database to the newest schema; returns the list of versions applied."""
    with db.connection_context():
        db.create_tables([SchemaVersion])
        version = current_version()
        if version == 0 and not any(m.table_exists() for m in ALL_MODELS):
            with db.atomic():
                db.create_tables(ALL_MODELS)
                SchemaVersion.insert_many([(v,) for v, _, _ in MIGRATIONS],
                                          fields=[SchemaVersion.version]).execute()
            return [v for v, _, _ in MIGRATIONS]
        applied = []
        migrator = SchemaMigrator.from_database(db.obj)
        # SQLite rebuilds a table to alter a column: with foreign keys enforced, dropping the
        # old table would delete (or be refused by) the rows pointing at it. The pragma only
        # changes outside a transaction; each step checks the keys before it commits.
        sqlite = is_sqlite()
        if sqlite:
            db.execute_sql("PRAGMA foreign_keys = OFF")
        try:
            for number, _description, step in MIGRATIONS:
                if number <= version:
                    continue
                with db.atomic():
                    step(migrator)
                    if sqlite and db.execute_sql("PRAGMA foreign_key_check").fetchall():
                        raise RuntimeError(f"migration {number} broke a foreign key")
                    SchemaVersion.create(version=number)
                applied.append(number)
        finally:
            if sqlite:
                db.execute_sql("PRAGMA foreign_keys = ON")
        return applied
