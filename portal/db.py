"""The peewee database, chosen from ``DATABASE_URL``, and its per-request lifecycle."""
import os

from peewee import DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect

#: The one database every model binds to; ``init_database`` points it at the real engine.
db = DatabaseProxy()

# WAL lets readers work while an order is being written; foreign keys are off by default in
# SQLite; the busy timeout makes a writer wait for a lock instead of failing at once.
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "synchronous": "normal",
    "cache_size": -16000,
}


def make_database(url):
    """Open (lazily) the database named by ``url`` (``sqlite:///path`` or ``postgresql://``)."""
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[1] if "sqlite:///" in url else ":memory:"
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, check_same_thread=False)
    return connect(url)


def init_database(url):
    """Bind the shared proxy to the database at ``url`` and return the real database."""
    database = make_database(url)
    db.initialize(database)
    return database


def is_sqlite():
    """True when the portal runs on SQLite (locking works differently there)."""
    return isinstance(db.obj, SqliteDatabase)


def is_postgres():
    """True when the portal runs on PostgreSQL."""
    return isinstance(db.obj, PostgresqlDatabase)


def write_transaction():
    """A transaction that takes the write lock at once.

    On SQLite ``BEGIN IMMEDIATE`` stops two read-check-write transactions from both reading
    before either writes; on PostgreSQL the callers lock the rows they change ``FOR UPDATE``.
    """
    if is_sqlite() and not db.in_transaction():
        return db.atomic("IMMEDIATE")
    return db.atomic()


def for_update(query):
    """Lock the selected rows where the engine can (PostgreSQL); SQLite locks the whole file."""
    return query.for_update() if is_postgres() else query


def backup_sqlite(path):
    """Copy the SQLite database to ``path`` while it is in use; returns the page count.

    The backup API copies a single consistent snapshot: a transaction committed during the
    copy restarts it, so an order is either wholly in the copy or not at all.
    """
    import sqlite3
    with db.connection_context():
        source = db.connection()
        target = sqlite3.connect(path)
        try:
            source.backup(target)
            return target.execute("PRAGMA page_count").fetchone()[0]
        finally:
            target.close()


def init_app(app):
    """Connect at the start of each request and close at its end."""
    init_database(app.config["DATABASE_URL"])

    @app.before_request
    def _connect():
        db.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if not db.is_closed():
            db.close()
