"""What needs no answer travels with the next statement (``DeferredCommandsMixin``).

On PostgreSQL ``BEGIN``, savepoints and the writes sent with ``send_later`` (audit rows,
outbox messages, the invoice lock) wait for the transaction's next statement or its COMMIT;
on SQLite they run at once. Every test here runs on the suite's engine and checks what the
database holds, which must be the same either way; the message counts are PostgreSQL's.
"""
import os

import peewee
import pytest

from portal.core.db import PreparedInsert, PreparedWrite, db, is_postgres, send_later
from portal.core.models import Account, AuditEvent, User, audit

#: The tests of what PostgreSQL is sent (SQLite runs everything at once: nothing waits).
postgres_only = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                                   reason="PostgreSQL: on SQLite nothing waits")


def actions():
    """The audit rows' actions, oldest first."""
    return [event.action for event in AuditEvent.select().order_by(AuditEvent.id)]


@pytest.fixture
def conn(app):
    """An open connection, the demo's first account and user, and a clean audit log."""
    with app.app_context(), db.connection_context():
        AuditEvent.delete().execute()
        yield Account.select().order_by(Account.id).first(), User.select().first()


def test_a_waiting_write_is_seen_by_the_next_statement_of_its_transaction(conn):
    account, user = conn
    with db.atomic():
        audit(account, user, "test.first", note="100% sure")
        assert actions() == ["test.first"]
        audit(account, user, "test.second")
    assert actions() == ["test.first", "test.second"]
    assert AuditEvent.get(AuditEvent.action == "test.first").details == {"note": "100% sure"}


def test_the_last_waiting_writes_are_committed(conn):
    account, user = conn
    with db.atomic():
        audit(account, user, "test.only", percent="5%")
    db.close()  # a new connection sees only what was committed
    assert actions() == ["test.only"]


def test_a_rollback_forgets_the_waiting_writes(conn):
    account, user = conn
    with pytest.raises(RuntimeError):
        with db.atomic():
            audit(account, user, "test.undone")
            raise RuntimeError("the transaction fails")
    assert actions() == []


def test_a_savepoint_rolled_back_undoes_only_what_came_after_it(conn):
    account, user = conn
    with db.atomic():
        audit(account, user, "test.kept")
        with pytest.raises(RuntimeError):
            with db.atomic():  # a savepoint, not yet sent
                audit(account, user, "test.undone")
                raise RuntimeError("the savepoint fails")
        with db.atomic():
            audit(account, user, "test.sent")
            assert "test.sent" in actions()  # sent: rolled back on the server
            with pytest.raises(RuntimeError):
                with db.atomic():
                    audit(account, user, "test.undone-too")
                    actions()
                    raise RuntimeError("a savepoint that sent something fails")
        audit(account, user, "test.after")
    assert actions() == ["test.kept", "test.sent", "test.after"]


def test_outside_a_transaction_the_write_runs_at_once(conn):
    account, user = conn
    audit(account, user, "test.now")
    send_later(*AuditEvent.delete().where(AuditEvent.action == "test.nothing").sql())
    if is_postgres():
        assert db.deferred_commands() == []
    assert actions() == ["test.now"]


def test_a_waiting_write_that_fails_fails_its_transaction(conn):
    account, user = conn
    with pytest.raises(peewee.IntegrityError):
        with db.atomic():
            audit(account, user, "test.before")
            audit(account.id + 10_000, user, "test.no-such-account")  # a foreign key
            User.select().count()
    assert actions() == []
    with db.atomic():  # the connection works on
        audit(account, user, "test.after")
    assert actions() == ["test.after"]


def test_prepared_writes_wait_and_their_effects_show(conn):
    account, _user = conn
    rename = PreparedWrite(lambda arg: Account.update(name=arg("name", Account.name))
                           .where(Account.id == arg("id", Account.id)))
    new_event = PreparedInsert(AuditEvent)
    with db.atomic():
        rename.later(name="Rinominata 50% S.r.l.", id=account.id)
        new_event.add(account=account, user=None, action="test.added", details={})
        assert Account.get_by_id(account.id).name == "Rinominata 50% S.r.l."
    assert actions() == ["test.added"]


@postgres_only
def test_postgresql_sends_what_waits_in_one_message(conn, count_queries):
    account, user = conn
    with db.atomic():  # the audit INSERT prepared on this connection (a message of its own)
        audit(account, user, "test.first")
    with count_queries() as queries:
        with db.atomic():
            pass
        with db.atomic():
            with db.atomic():
                pass  # a savepoint nothing followed: never sent
    assert queries.count == 0
    with count_queries() as queries:
        with db.atomic():
            audit(account, user, "test.alone")
    assert queries.count == 1  # BEGIN, the INSERT and COMMIT in one message
    with count_queries() as queries:
        with db.atomic():
            with db.atomic():
                audit(account, user, "test.one")
                audit(account, user, "test.two")
            send_later("LOCK TABLE invoice IN SHARE ROW EXCLUSIVE MODE")
            assert User.select().count() >= 1
    sent = [record.msg[0] for record in queries.get_queries()]
    assert len(sent) == 1, sent
    assert sent[0].startswith("BEGIN; SAVEPOINT ")
    assert "RELEASE SAVEPOINT" in sent[0] and "LOCK TABLE invoice" in sent[0]
    assert actions() == ["test.first", "test.alone", "test.one", "test.two"]


def test_rolling_back_a_sent_savepoint_forgets_what_waited_after_it(conn):
    account, user = conn
    with db.atomic():
        audit(account, user, "test.kept")
        # SQLite refuses the row at once; PostgreSQL would only when it is sent, and the
        # rollback to the savepoint (already sent with the first row) forgets it unsent
        with pytest.raises((RuntimeError, peewee.IntegrityError)):
            with db.atomic():
                audit(account, user, "test.undone")
                assert "test.undone" in actions()
                audit(account.id + 10_000, user, "test.no-such-account")
                raise RuntimeError("the savepoint fails")
    assert actions() == ["test.kept"]


@postgres_only
def test_a_message_that_fails_before_the_server_breaks_its_transaction(conn):
    account, user = conn
    name = account.name
    with pytest.raises(peewee.InterfaceError, match="must be rolled back"):
        with db.atomic():
            audit(account, user, "test.lost")  # waits, with the BEGIN
            with pytest.raises(peewee.ProgrammingError):
                db.execute_sql("SELECT %s", [object()])  # the driver cannot adapt it
            # the BEGIN and the audit row were never sent: nothing may run in autocommit
            Account.update(name="Changed").where(Account.id == account.id).execute()
    assert actions() == []
    assert Account.get_by_id(account.id).name == name


@postgres_only
def test_a_waiting_execute_of_a_lost_statement_is_prepared_again(conn):
    account, user = conn
    with db.atomic():
        audit(account, user, "test.prepared")  # prepares the INSERT on this connection
    db.execute_sql("DEALLOCATE ALL")  # as a pooler's DISCARD ALL would
    with pytest.raises(peewee.DatabaseError):
        with db.atomic():
            audit(account, user, "test.failed")  # EXECUTE of a statement gone
    with db.atomic():
        audit(account, user, "test.again")  # prepared again
    assert actions() == ["test.prepared", "test.again"]
