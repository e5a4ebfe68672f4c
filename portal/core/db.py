"""The peewee database, chosen from ``DATABASE_URL``, and its per-request lifecycle."""
import hashlib
import logging
import os
import sqlite3
import threading
import weakref
from dataclasses import dataclass

from peewee import (AutoField, BigAutoField, BigIntegerField, CharField, DatabaseError,
                    DatabaseProxy, Field, ForeignKeyField, IntegerField, InterfaceError,
                    PostgresqlDatabase, SqliteDatabase, TextField, Value)
from playhouse.db_url import connect, parse
from playhouse.pool import PooledDatabase, PooledPostgresqlDatabase, PooledSqliteDatabase

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


#: Connections kept per process (gunicorn: per worker, shared by its threads). Opening a
#: SQLite connection and running the five PRAGMAs cost about 10 % of a cheap request.
POOL_MAX_CONNECTIONS = 32
#: Seconds after which a pooled connection is closed instead of reused.
POOL_STALE_TIMEOUT = 300

# The pool logs every check-out and check-in at DEBUG on "peewee.pool", a child of the
# "peewee" logger whose DEBUG records are the SQL statements (tests count them).
logging.getLogger("peewee.pool").setLevel(logging.INFO)


class DeferredCommandsMixin:
    """PostgreSQL: what needs no answer travels with the statement after it, in one message,
    instead of a round trip each.

    - ``BEGIN``, ``SAVEPOINT`` and ``RELEASE SAVEPOINT``: none returns anything, and in a
      healthy transaction none can fail;
    - inside a transaction, the writes sent with ``send_later`` (an audit row, the outbox's,
      a lock): the caller reads no result of theirs; the last ones go with the ``COMMIT``.

    The server runs them first, in order, so the statement they travel with sees what they
    did, and one that fails aborts the transaction as it would have alone (its error is
    raised by the statement it travelled with). A message that fails without the server's
    answer leaves the transaction refusing everything until it is rolled back (``_send``):
    what waited in it may never have been sent. A round trip costs this process and the
    server about a quarter of a millisecond of CPU together, whatever the statement, and a
    sync worker waits for it; completing an order sent 23 and sends 11. A transaction that
    sent nothing is neither begun nor committed; a savepoint nothing followed is never sent,
    and rolling back to it only forgets what waited after it.

    What waits is kept per thread, as peewee keeps a connection per thread.
    """

    #: What ``begin`` and peewee's savepoints send; a transaction whose waiting commands
    #: are all of these has sent nothing yet.
    CONTROL = ("BEGIN", "SAVEPOINT ", "RELEASE SAVEPOINT ")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.waiting = threading.local()

    def _waiting_state(self):
        """This thread's commands waiting for the next statement, and whether a message that
        carried some failed without the server's answer (``broken``: they may be lost)."""
        state = self.waiting
        if not hasattr(state, "commands"):
            state.commands, state.broken = [], False
        return state

    def deferred_commands(self):
        """This thread's commands waiting for the next statement (a list, maybe empty)."""
        return self._waiting_state().commands

    def _forget(self):
        """Nothing waits, nothing is broken: the transaction ended (or never began)."""
        state = self._waiting_state()
        state.commands.clear()
        state.broken = False

    def _send(self, sql, params=None):
        """Send ``sql`` (None: nothing more) after the waiting commands, in one message,
        through peewee (logged, its errors wrapped). The driver formats the whole text with
        the statement's parameters (peewee passes a tuple even when there are none), so a
        ``%`` in a waiting write is doubled.

        When the message fails without an answer from the server (a value the driver
        cannot adapt, a lost connection), what waited may never have been sent: the
        transaction is then broken, and refuses every statement and its COMMIT until it is
        rolled back. A failure the server answered aborted the transaction there already.
        """
        state = self._waiting_state()
        if state.broken:
            raise InterfaceError("this transaction lost writes waiting to be sent with a "
                                 "statement that failed: it must be rolled back")
        if not state.commands:
            return super().execute_sql(sql, params)
        text = "; ".join([command.replace("%", "%%") for command in state.commands]
                         + ([sql] if sql is not None else []))
        state.commands.clear()
        try:
            return super().execute_sql(text, params)
        except Exception as error:
            code = _sqlstate(error)
            if code is None:
                state.broken = True
            elif code == "26000":  # a waiting EXECUTE of a statement the connection lost
                _server_prepared.pop(self.connection(), None)
            raise

    def send_deferred(self):
        """Send the waiting commands now (before a statement that bypasses ``execute_sql``)."""
        if self.deferred_commands():
            self._send(None)

    def send_later(self, sql, params=()):
        """Send ``sql`` with the transaction's next statement, or its ``COMMIT``; True when
        it waits, False outside a transaction (where nothing may follow it: the caller runs
        it now)."""
        if not self.in_transaction():
            return False
        from psycopg2.extensions import encodings  # only ever called on PostgreSQL
        connection = self.connection()
        text = self.cursor().mogrify(sql, params or None)
        self.deferred_commands().append(text.decode(encodings[connection.encoding]))
        return True

    def _begin_waits(self):
        """Whether this thread's transaction has not reached the server yet: its ``BEGIN``
        still waits."""
        commands = self.deferred_commands()
        return bool(commands) and commands[0].startswith("BEGIN")

    def transaction_begun(self):
        """Whether the server has begun this thread's transaction (its BEGIN was sent)."""
        return self.in_transaction() and not self._begin_waits()

    def begin(self, isolation_level=None):
        if self.is_closed():
            self.connect()
        self._forget()  # nothing can be waiting outside a transaction
        self.deferred_commands().append(f"BEGIN TRANSACTION ISOLATION LEVEL {isolation_level}"
                                        if isolation_level else "BEGIN")

    def commit(self):
        if self._sent_nothing():
            return
        state = self._waiting_state()
        if state.commands or state.broken:
            self._send("COMMIT")
        else:
            super().commit()

    def rollback(self):
        begun = not self._begin_waits()  # else nothing was sent
        self._forget()  # what waited, the rollback undoes anyway
        if begun:
            super().rollback()

    def _sent_nothing(self):
        """True (and nothing waits any more) when this transaction has sent nothing: its
        ``BEGIN`` still waits, with nothing after it but savepoints."""
        commands = self.deferred_commands()
        if self._begin_waits() and all(command.startswith(self.CONTROL)
                                       for command in commands):
            commands.clear()
            return True
        return False

    def execute_sql(self, sql, params=None, commit=None):
        if not params:
            if sql.startswith(("SAVEPOINT ", "RELEASE SAVEPOINT ")):
                self.deferred_commands().append(sql.rstrip(";"))
                return self.cursor()
            if sql.startswith("ROLLBACK TO SAVEPOINT "):
                name = sql[len("ROLLBACK TO SAVEPOINT "):].rstrip(";")
                commands = self.deferred_commands()
                if f"SAVEPOINT {name}" in commands:  # never sent: nothing ran after it
                    del commands[commands.index(f"SAVEPOINT {name}"):]
                    return self.cursor()
                # Sent: whatever waits was queued after it, and the rollback undoes it.
                commands.clear()
        return self._send(sql, params)

    def connect(self, reuse_if_open=False):
        opened = super().connect(reuse_if_open)
        if opened:
            self._forget()
        return opened

    def close(self):
        closed = super().close()  # refuses inside a transaction: what waits still belongs
        self._forget()
        return closed


class PortalPostgresqlDatabase(DeferredCommandsMixin, PostgresqlDatabase):
    """``postgresql://``: a connection per request."""


class PooledPortalPostgresqlDatabase(DeferredCommandsMixin, PooledPostgresqlDatabase):
    """``postgresql+pool://``: pooled connections (production)."""


_POSTGRES_SCHEMES = {"postgres": PortalPostgresqlDatabase,
                     "postgresql": PortalPostgresqlDatabase,
                     "postgres+pool": PooledPortalPostgresqlDatabase,
                     "postgresql+pool": PooledPortalPostgresqlDatabase}


def make_database(url):
    """The database named by ``url`` (``sqlite:///path`` or ``postgresql://``); it connects
    lazily, on the first query (peewee's autoconnect).

    A SQLite file gets a connection pool; ``:memory:`` does not (each connection would be a
    different, empty database). PostgreSQL is pooled when the URL says so
    (``postgresql+pool://...?max_connections=20&stale_timeout=300``, playhouse.db_url).
    """
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[1] if "sqlite:///" in url else ":memory:"
        if path == ":memory:":
            return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, check_same_thread=False)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return PooledSqliteDatabase(path, pragmas=SQLITE_PRAGMAS, check_same_thread=False,
                                    max_connections=POOL_MAX_CONNECTIONS,
                                    stale_timeout=POOL_STALE_TIMEOUT)
    database_class = _POSTGRES_SCHEMES.get(url.split("://", 1)[0])
    if database_class is not None:
        return database_class(**parse(url))
    return connect(url)


def init_database(url):
    """Bind the shared proxy to the database at ``url`` and return the real database.

    The previous database's pooled connections are closed first: tests build many apps in
    one process, each on its own file, and idle connections would keep those files open.
    """
    previous = db.obj
    if isinstance(previous, PooledDatabase):
        previous.close_idle()
    database = make_database(url)
    db.initialize(database)
    return database


def driver_cursor():
    """The driver's own cursor, for what peewee does not send (``COPY``); on PostgreSQL the
    commands waiting for the next statement (``DeferredCommandsMixin``) are sent first, so
    it runs inside the transaction that began."""
    send = getattr(db.obj, "send_deferred", None)
    if send is not None:
        send()
    return db.cursor()


def send_later(sql, params=()):
    """Run ``sql``, a statement whose result nobody reads (a write, a lock): on PostgreSQL
    inside a transaction it travels with the transaction's next statement or its COMMIT
    (``DeferredCommandsMixin``), elsewhere it runs now."""
    if not _waits(sql, params):
        db.execute_sql(sql, params)


def _waits(sql, params):
    """True when ``sql`` was left to travel with the next statement (see ``send_later``)."""
    later = getattr(db.obj, "send_later", None)
    return later is not None and later(sql, params)


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


def for_update(query, *of):
    """Lock the selected rows where the engine can (PostgreSQL); SQLite locks the whole file.

    ``of``: the models whose rows to lock (``FOR UPDATE OF``), when the query joins rows
    that other accounts share (a plan, a product), which must stay unlocked: locking them
    would make every account's order or renewal wait for every other's transaction.
    """
    if not is_postgres():
        return query
    return query.for_update(of=of) if of else query.for_update()


def backup_sqlite(path):
    """Copy the SQLite database to ``path`` while it is in use; returns the page count.

    The backup API copies a single consistent snapshot: a transaction committed during the
    copy restarts it, so an order is either wholly in the copy or not at all.
    """
    with db.connection_context():
        source = db.connection()
        target = sqlite3.connect(path)
        try:
            source.backup(target)
            return target.execute("PRAGMA page_count").fetchone()[0]
        finally:
            target.close()


def init_app(app):
    """Bind the database; a request connects on its first query (a request that does not
    query, such as the bare benchmark route, never touches the database) and gives the
    connection back (to the pool) at its end."""
    global SERVER_PREPARE
    init_database(app.config["DATABASE_URL"])
    if app.config.get("DATABASE_SERVER_PREPARE") is not None:
        SERVER_PREPARE = bool(app.config["DATABASE_SERVER_PREPARE"])

    @app.teardown_request
    def _close(exc):
        if not db.is_closed():
            db.close()


#: On PostgreSQL the prepared queries below are prepared by the server too: ``PREPARE`` once
#: per connection, then ``EXECUTE`` with the arguments. Planning a query cost the server more
#: than running it (pg_stat_statements during the order load: 7 ms of planning per order
#: against 5.6 ms of execution outside the invoice lock), and the portal's queries are few
#: and fixed. None: when the connections are pooled (a connection per request would prepare
#: each statement before running it once); True or False forces it (the tests force it on;
#: ``DATABASE_SERVER_PREPARE`` sets it, see ``init_app``).
SERVER_PREPARE = None

_server_prepared = weakref.WeakKeyDictionary()  # connection → names prepared on it
_not_preparable = set()  # names the server refused to prepare: run as plain SQL


def server_prepares():
    """Whether prepared queries are prepared by the server (see ``SERVER_PREPARE``)."""
    if not is_postgres():
        return False
    return SERVER_PREPARE if SERVER_PREPARE is not None else isinstance(db.obj, PooledDatabase)


@dataclass(frozen=True)
class ServerStatement:
    """A prepared query's ``PREPARE`` and ``EXECUTE`` texts: the arguments become ``$1``,
    ``$2`` ..., the constants of the query are written into it (the planner sees them)."""

    name: str
    prepare: str
    execute: str
    arguments: tuple  # positions, in the query's parameters, of the arguments

    @classmethod
    def of(cls, sql, template, arguments):
        """The statement for ``sql`` (psycopg2's ``%s`` placeholders) whose parameters are
        ``template``, with the arguments at positions ``arguments``; None when the SQL holds
        any other ``%`` (it is then run as it is)."""
        pieces = sql.split("%s")
        if len(pieces) != len(template) + 1 or any("%" in piece for piece in pieces):
            return None
        number = {position: n for n, position in enumerate(sorted(arguments), 1)}
        cursor = db.cursor()
        text = [pieces[0]]
        for position, piece in enumerate(pieces[1:]):
            text.append(f"${number[position]}" if position in number
                        else cursor.mogrify("%s", [template[position]]).decode())
            text.append(piece)
        body = "".join(text)
        name = "portal_" + hashlib.sha1(body.encode()).hexdigest()[:24]
        placeholders = f" ({', '.join(['%s'] * len(number))})" if number else ""
        return cls(name, f"PREPARE {name} AS {body}", f"EXECUTE {name}{placeholders}",
                   tuple(sorted(arguments)))


def execute_prepared(sql, params, statement, later=False):
    """Run a prepared query's ``sql`` with ``params``: as ``statement`` (``EXECUTE``, after
    preparing it on this connection if needed) when the server prepares, else as it is.
    ``EXECUTE`` goes through ``db.execute_sql``, so it is logged (and counted) as the
    statement; ``PREPARE`` is not.

    ``later``: a write whose result nobody reads; on PostgreSQL inside a transaction it is
    sent with the transaction's next statement (``send_later``), and None is returned."""
    if statement is None or not server_prepares() or statement.name in _not_preparable:
        return None if later and _waits(sql, params) else db.execute_sql(sql, params)
    connection = db.connection()
    names = _server_prepared.get(connection)
    if names is None:
        names = _server_prepared[connection] = set()
    if statement.name not in names:
        if not _prepare(statement):
            return None if later and _waits(sql, params) else db.execute_sql(sql, params)
        names.add(statement.name)
    arguments = [params[p] for p in statement.arguments]
    if later and _waits(statement.execute, arguments):
        return None
    try:
        return db.execute_sql(statement.execute, arguments)
    except DatabaseError as error:
        if _sqlstate(error) != "26000":  # invalid_sql_statement_name
            raise
        # The connection lost its prepared statements (reset with DISCARD ALL, by the pool
        # after a failed transaction or by an operator): they are prepared again. Inside a
        # transaction, which the error aborted, the caller's error path runs first.
        _server_prepared.pop(connection, None)
        if db.in_transaction():
            raise
        return execute_prepared(sql, params, statement)


def _sqlstate(error):
    """The SQLSTATE of a driver error, or of the one peewee wrapped (None if it has none)."""
    for candidate in (error, error.__context__, *error.args[:1]):
        code = getattr(candidate, "pgcode", None)
        if code:
            return code
    return None


def _prepare(statement):
    """``PREPARE`` on this connection; False (and never tried again in this process) if the
    server refuses the statement itself (an SQL error: class 42). Inside a transaction the
    server has begun, a savepoint keeps a refusal from aborting it; any other error is
    raised. A prepared statement belongs to the connection, not to a transaction: while the
    transaction's ``BEGIN`` still waits, it is prepared outside it, and what waits goes on
    waiting."""
    from psycopg2 import Error as DriverError  # only ever called on PostgreSQL
    cursor = db.cursor()
    begun = getattr(db.obj, "transaction_begun", None)
    savepoint = begun() if begun is not None else db.in_transaction()
    if savepoint:
        cursor.execute("SAVEPOINT portal_prepare")
    try:
        cursor.execute(statement.prepare)
    except DriverError as error:
        if savepoint:
            cursor.execute("ROLLBACK TO SAVEPOINT portal_prepare")
            cursor.execute("RELEASE SAVEPOINT portal_prepare")
        code = _sqlstate(error) or ""
        if code == "42P05":  # duplicate_prepared_statement: prepared already
            return True
        if not code.startswith("42"):
            raise
        _not_preparable.add(statement.name)
        logging.getLogger(__name__).warning("not prepared by the server (%s): %s", code,
                                            statement.prepare)
        return False
    if savepoint:
        cursor.execute("RELEASE SAVEPOINT portal_prepare")
    return True


#: Field types whose ``python_value`` gives back a value of this Python type unchanged: a
#: column of one is converted only when the driver gives another type.
_NATIVE_TYPES = {IntegerField: int, BigIntegerField: int, AutoField: int, BigAutoField: int,
                 CharField: str, TextField: str}


def _native_type(column):
    """The Python type ``column``'s values need no conversion from (None: always convert)."""
    if type(column) is ForeignKeyField:
        column = column.rel_field
    return _NATIVE_TYPES.get(type(column))


class Compiled:
    """A ``Prepared`` query built for one engine and argument types: the peewee query, its
    SQL, the parameter template, ``slots`` ({parameter position: argument index}), the
    ``ServerStatement`` or None, each column's conversion and, once known, the ``Layout``
    of its model rows."""

    __slots__ = ("query", "sql", "params", "slots", "statement", "conversions", "layout")

    def __init__(self, query, sql, params, slots, statement):
        self.query, self.sql, self.params, self.slots = query, sql, params, slots
        self.statement = statement
        #: (column index, the field's ``python_value``, the native type or None) of every
        #: field column
        self.conversions = tuple(
            (index, column.python_value, _native_type(column))
            for index, column in enumerate(query.selected_columns) if isinstance(column, Field))
        self.layout = None


@dataclass(frozen=True)
class Layout:
    """Where each model's fields are in a row: ``models`` is ((model, ((column index, field
    name), ...)), ...), the query's own model first; ``extra`` names the other columns."""

    model: type
    models: tuple
    extra: tuple

    @classmethod
    def of(cls, query, names):
        """The layout of ``query``'s rows, whose columns the cursor names ``names``."""
        fields, extra = {}, []
        for index, (column, name) in enumerate(zip(query.selected_columns, names)):
            if isinstance(column, Field):
                fields.setdefault(column.model, []).append((index, column.name))
            else:
                extra.append((index, name))
        return cls(query.model, tuple((model, tuple(columns))
                                      for model, columns in fields.items()), tuple(extra))


@dataclass(frozen=True)
class Attach:
    """For ``Prepared(related=...)``: a model joined on an expression rather than a foreign
    key, as ``.join(model, JOIN.LEFT_OUTER, on=..., attr=attr)`` from ``source`` attaches it:
    ``source``'s instance gets it under ``attr`` when any of its selected columns has a
    value; when none has (the outer join found no row), the attribute is not set."""

    source: type
    attr: str
    model: type


class Prepared:
    """A SELECT whose SQL peewee builds once per engine, then runs with new values.

    Building the SQL of even a primary-key lookup costs peewee about 0.3 ms of Python, ten
    times what SQLite needs to answer it; every request loads its user, and the summary asks
    for its subscription and counts on every click (``bench/cpu.py``: the summary costs about
    a third more CPU without this). ``builder(*args)`` returns the peewee query; it is called
    once with placeholder values (integers or strings, like the real ones) to learn the SQL
    (``query.sql()``) and where each argument lands in its parameters. Only plain comparisons
    with the arguments are allowed (no ``in_`` lists, whose SQL depends on their length).

    The rows are what the plain query would give (``plain``; ``tests/test_prepared.py``
    compares them on both engines), built from ``db.execute_sql`` (``execute_prepared``) with
    peewee's public API:
    each selected column converted by its field's ``python_value``, then

    - model rows: ``Model(**fields)``;
    - ``related=(Subscription.plan, ...)``: for a query that selects several models joined
      along these foreign keys, the first model's rows with each joined row attached under
      the foreign key's name, as peewee's ``.join()`` does; an ``Attach`` names a model
      joined on an expression instead;
    - ``row=tuple``: tuples of the selected columns.

    Unlike peewee's own rows, a model row counts every field as changed (``dirty_fields``):
    ``save()`` writes every field either way, as the portal's models do not set
    ``only_save_dirty``.
    """

    _INT = -7_318_224_000_000_000_000  # placeholders: values no real row or argument has
    _STR = "\x00prepared-argument-{}\x00"

    def __init__(self, builder, row=None, related=()):
        """Remember how to build the query; nothing is compiled until the first call."""
        if row not in (None, tuple) or (row is tuple and related):
            raise ValueError("a prepared query gives models, joined models or tuples")
        self.builder = builder
        self.row = row
        self.related = tuple(related)
        self.compiled = {}

    def plain(self, *args):
        """The query as peewee builds and runs it, without preparing anything."""
        query = self.builder(*args)
        return query.tuples() if self.row is tuple else query

    def placeholder(self, index, value):
        """A stand-in for argument ``index`` of the same type as ``value``."""
        if type(value) is int:
            return self._INT - index
        if type(value) is str:
            return self._STR.format(index)
        return None

    def compile(self, args):
        """The ``Compiled`` query for arguments of these types, or None (a type not
        prepared)."""
        key = (type(db.obj), tuple(type(a) for a in args))
        compiled = self.compiled.get(key)
        if compiled is None:
            stand_ins = [self.placeholder(i, a) for i, a in enumerate(args)]
            if any(s is None for s in stand_ins):
                return None  # a type we do not prepare: the caller runs the query as built
            query = self.builder(*stand_ins)
            sql, params = query.sql()
            slots = {pos: stand_ins.index(p) for pos, p in enumerate(params)
                     if type(p) in (int, str) and p in stand_ins}
            if set(slots.values()) != set(range(len(args))):
                raise ValueError("every argument of a prepared query must be a parameter")
            statement = ServerStatement.of(sql, params, slots) if is_postgres() else None
            compiled = self.compiled[key] = Compiled(query, sql, list(params), slots,
                                                     statement)
        return compiled

    def rows(self, *args):
        """Every row, as the plain query's rows (models, joined models or tuples) would be."""
        compiled = self.compile(args)
        if compiled is None:
            return list(self.plain(*args))
        params = list(compiled.params)
        for position, index in compiled.slots.items():
            params[position] = args[index]
        cursor = execute_prepared(compiled.sql, params, compiled.statement)
        rows = cursor.fetchall()
        conversions = compiled.conversions
        values = []
        for row in rows:
            row = list(row)
            for index, convert, native in conversions:
                raw = row[index]
                if native is None or (raw is not None and type(raw) is not native):
                    row[index] = convert(raw)
            values.append(row)
        if self.row is tuple:
            return [tuple(row) for row in values]
        layout = compiled.layout
        if layout is None:
            # A column that is not a field (an aliased subquery) is named by the cursor
            # (DB-API); the names are the SQL's, the same on every execution.
            layout = compiled.layout = Layout.of(
                compiled.query, [description[0] for description in cursor.description])
        return [self.joined(layout, row) for row in values]

    def joined(self, layout, row):
        """The query's model instance of one row, with the joined models' instances attached
        (any selected expression that is not a field becomes an attribute of it, named as
        the SQL names it)."""
        instances = {model: model(**{name: row[index] for index, name in fields})
                     for model, fields in layout.models}
        instance = instances[layout.model]
        for index, name in layout.extra:
            setattr(instance, name, row[index])
        for link in self.related:
            if type(link) is Attach:
                # as peewee: attached when any of its columns has a value (an outer join's
                # missing row has none)
                if any(row[index] is not None
                       for model, fields in layout.models if model is link.model
                       for index, _name in fields):
                    setattr(instances[link.source], link.attr, instances[link.model])
            else:
                setattr(instances[link.model], link.name, instances[link.rel_model])
        return instance

    def first(self, *args):
        """The first row or None (the builder adds ``.limit(1)`` where it matters)."""
        rows = self.rows(*args)
        return rows[0] if rows else None


class PreparedInsert:
    """``Model.create`` for one model, with the INSERT's SQL built once per engine and set of
    columns (peewee spends about 0.3 ms of Python building each INSERT; a billing run writes a
    dozen rows per renewal, while holding the write lock).

    ``create(**values)`` does what ``model.create(**values)`` does, with peewee's public API:
    the fields not given take their defaults (``Field.default``, called when callable), each
    value is converted by its field's ``db_value``, and the row comes back as a model instance
    with its new primary key. The SQL is learned once from ``model.insert(...).sql()`` with
    unconverted stand-ins (``Value(..., converter=False)``) whose positions in the parameters
    say where each column's value goes; on PostgreSQL it returns the key (``RETURNING``).

    ``ignore_conflicts``: a row that breaks a unique constraint is not written
    (``on_conflict_ignore``) and ``create`` returns None.
    """

    _STAND_IN = -7_318_224_100_000_000_000  # no real value is this

    def __init__(self, model, ignore_conflicts=False):
        """Remember the model; nothing is compiled until the first call."""
        self.model = model
        self.ignore_conflicts = ignore_conflicts
        self.fields = [f for f in model.select().selected_columns if isinstance(f, Field)]
        self.key = next(f for f in self.fields if f.primary_key)
        self.compiled = {}

    def compile(self, fields):
        """(sql, {parameter position: index in ``fields``}, ``ServerStatement`` or None) for
        an INSERT of ``fields``."""
        key = (type(db.obj), fields)
        compiled = self.compiled.get(key)
        if compiled is None:
            stand_ins = [self._STAND_IN - i for i in range(len(fields))]
            query = self.model.insert({field: Value(stand_in, converter=False)
                                       for field, stand_in in zip(fields, stand_ins)})
            if self.ignore_conflicts:
                query = query.on_conflict_ignore()
            if is_postgres():
                query = query.returning(self.key)
            sql, params = query.sql()
            if sorted(params, reverse=True) != stand_ins:
                raise ValueError(f"unexpected parameters in the INSERT of {self.model}")
            statement = (ServerStatement.of(sql, params, range(len(params)))
                         if is_postgres() else None)
            compiled = self.compiled[key] = (sql, [stand_ins.index(p) for p in params],
                                             statement)
        return compiled

    def create(self, **values):
        """Insert one row, as ``Model.create(**values)``; returns the model instance."""
        row, cursor = self._insert(values, later=False)
        if self.ignore_conflicts and cursor.rowcount == 0:
            return None
        key = cursor.fetchone()[0] if is_postgres() else cursor.lastrowid
        instance = self.model(**{field.name: value for field, value in row.items()})
        if self.key not in row:
            setattr(instance, self.key.name, key)
        return instance

    def add(self, **values):
        """Insert one row whose key nobody reads (an audit row, an outbox message): on
        PostgreSQL inside a transaction it is sent with the transaction's next statement
        (``send_later``); elsewhere as ``create``. Returns nothing."""
        self._insert(values, later=True)

    def _insert(self, values, later):
        """(the row's values by field, the cursor or None when the INSERT waits)."""
        unknown = set(values) - {field.name for field in self.fields}
        if unknown:
            raise TypeError(f"{self.model.__name__} has no field {sorted(unknown)}")
        row = {}
        for field in self.fields:
            if field.name in values:
                row[field] = values[field.name]
            elif field.default is not None:
                row[field] = field.default() if callable(field.default) else field.default
        fields = tuple(row)
        sql, order, statement = self.compile(fields)
        params = [fields[i].db_value(row[fields[i]]) for i in order]
        return row, execute_prepared(sql, params, statement, later=later)


class PreparedWrite:
    """An UPDATE (or DELETE) whose SQL peewee builds once per engine, then runs with new
    values: ``builder(arg)`` returns the query, calling ``arg(name, field)`` where a value
    goes (``field`` converts it, by its public ``db_value``); constants stay in the SQL.

        _paid = PreparedWrite(lambda arg: Renewal.update(
            state="completed", order=arg("order", Renewal.order))
            .where(Renewal.id == arg("id", Renewal.id)))
        _paid.execute(order=order.id, id=row.id)   # the number of rows changed

    Each ``arg`` is an unconverted stand-in (``Value(..., converter=False)``) whose position
    in the query's parameters says where the value goes, as in ``PreparedInsert``.
    """

    _STAND_IN = -7_318_224_200_000_000_000  # no real value is this

    def __init__(self, builder):
        """Remember how to build the query; nothing is compiled until the first call."""
        self.builder = builder
        self.compiled = {}

    def compile(self):
        """(sql, parameter template, [(position, name, field)], ``ServerStatement`` or None)
        for the current engine."""
        compiled = self.compiled.get(type(db.obj))
        if compiled is None:
            stand_ins = {}

            def arg(name, field):
                stand_in = self._STAND_IN - len(stand_ins)
                stand_ins[stand_in] = (name, field)
                return Value(stand_in, converter=False)
            sql, params = self.builder(arg).sql()
            slots = [(position, *stand_ins[p]) for position, p in enumerate(params)
                     if type(p) is int and p in stand_ins]
            if len(slots) != len(stand_ins):
                raise ValueError("every argument of a prepared write must be a parameter")
            statement = (ServerStatement.of(sql, params, [slot[0] for slot in slots])
                         if is_postgres() else None)
            compiled = self.compiled[type(db.obj)] = (sql, list(params), slots, statement)
        return compiled

    def execute(self, **values):
        """Run the statement with ``values`` (one per ``arg`` name); the rows it changed."""
        return self._run(values, later=False).rowcount

    def later(self, **values):
        """``execute`` for a write whose count nobody reads: on PostgreSQL inside a
        transaction it is sent with the transaction's next statement (``send_later``)."""
        self._run(values, later=True)

    def _run(self, values, later):
        sql, template, slots, statement = self.compile()
        params = list(template)
        for position, name, field in slots:
            params[position] = field.db_value(values[name])
        return execute_prepared(sql, params, statement, later=later)
