"""Version 2: a per-user failed-login counter and a temporary lock."""
from peewee import DateTimeField, PostgresqlDatabase
from playhouse.migrate import migrate

description = "login throttling columns on users"


def upgrade(db, migrator):
    """Add ``failed_logins`` (NOT NULL DEFAULT 0) and ``locked_until`` to "user".

    Each column is added only when missing: the portal's first releases created version 1
    from the models of the day, which already had both columns.
    """
    engine = getattr(db, "obj", db)  # the portal's DatabaseProxy, or a database
    # on PostgreSQL, in the schema the connection finds the table in (peewee looks in public)
    schema = (db.execute_sql("SELECT current_schema()").fetchone()[0]
              if isinstance(engine, PostgresqlDatabase) else None)
    columns = {c.name for c in db.get_columns("user", schema)}
    # A plain ADD COLUMN with a default: playhouse would add it nullable and then rebuild the
    # "user" table on SQLite to make it NOT NULL, and dropping the old table cascades to the
    # license assignments and cart items (and is refused by orders).
    if "failed_logins" not in columns:
        db.execute_sql('ALTER TABLE "user" ADD COLUMN "failed_logins" INTEGER NOT NULL DEFAULT 0')
    if "locked_until" not in columns:
        migrate(migrator.add_column("user", "locked_until", DateTimeField(null=True)))
