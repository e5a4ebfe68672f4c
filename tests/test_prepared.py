"""Every prepared query (``portal.core.db.Prepared``) gives the rows of the plain peewee query.

Runs on the engine the suite runs on (SQLite, or PostgreSQL with TEST_DATABASE_URL): the
prepared SQL is compiled per engine.
"""
import importlib
import os
import pkgutil

import peewee
import pytest
from playhouse.shortcuts import model_to_dict

import portal
from conftest import GIULIA
from portal.core.db import Prepared, db
import datetime as dt

from portal.core.models import (CartItem, Invoice, Order, OrderReservation, PaymentMethod,
                                Renewal, SandboxCharge, Subscription, User)
from test_checkout_support import add_to_cart, form_fields, place, review


def prepared_queries():
    """{"module.name": Prepared} for every prepared query in the portal package."""
    found = {}
    for module_info in pkgutil.walk_packages(portal.__path__, "portal."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if isinstance(value, Prepared):
                found[f"{module_info.name}.{name}"] = value
    return found


@pytest.fixture
def shop(giulia):
    """Giulia after one order paid with a new card, with two changes back in her cart."""
    add_to_cart(1, "webinar-pro", 8, "annual")
    _html, fields = review(giulia)
    assert place(giulia, fields).status_code == 303
    add_to_cart(1, "webinar-pro", 9, "annual")
    add_to_cart(2, "meeting-business", 3, "monthly")
    with db.connection_context():
        user = User.get(User.email == GIULIA)
        renewal = Renewal.create(  # a declined renewal of the Webinar subscription
            subscription=1, period_start=dt.date(2026, 12, 10), period_end=dt.date(2027, 1, 10),
            state="failed", plan=1, licenses=5, frequency="monthly", unit_price_cents=11900,
            subtotal_cents=59500, vat_rate="0.22", vat_reason="domestic", vat_cents=13090,
            total_cents=72590, applied_cents=0, due_cents=72590, attempts=1)
        reservation = OrderReservation.get()
        OrderReservation.create(  # an order being charged
            idempotency_key="in-flight-order-key-0001", account=user.account_id, user=user,
            fingerprint="0" * 64, state="reserved", quote={}, due_cents=0, applied_cents=0,
            currency="EUR")
        User.update(locale="it").where(User.id == user.id).execute()  # a saved language
        return {"user": user, "order": Order.get(), "invoice": Invoice.get(),
                "card": PaymentMethod.get(), "other_user": User.get(User.email != GIULIA),
                "reservation": reservation, "renewal": renewal,
                "charge": SandboxCharge.get(),
                "their_subscription": Subscription.get(
                    Subscription.account != user.account_id).id}


def arguments(shop):
    """The arguments each prepared query is tried with: rows that exist, and ones that do not."""
    user, order, card = shop["user"], shop["order"], shop["card"]
    mine, theirs = user.account_id, shop["other_user"].account_id
    year = shop["invoice"].year
    return {
        "portal.checkout.cart._cart_count": [(user.id,), (0,)],
        "portal.checkout.orders._order_by_key": [(order.idempotency_key,), ("no-such-key",)],
        "portal.checkout.orders._locked_account": [(mine,), (0,)],
        "portal.checkout.orders._subscription_versions": [(mine,), (theirs,), (0,)],
        "portal.checkout.orders._saved_method": [(card.id, mine, card.gateway),
                                                 (card.id, theirs, card.gateway),
                                                 (card.id, mine, "other-gateway")],
        "portal.checkout.orders._ledger_sum": [(mine,), (0,)],
        "portal.checkout.orders._balance": [(mine,), (0,)],
        "portal.checkout.orders._refused_payments": [
            (mine, "127.0.0.1", "2000-01-01 00:00:00"), (mine, "10.9.9.9", "2999-01-01"),
            (theirs, "127.0.0.1", "2000-01-01 00:00:00.5")],
        "portal.checkout.orders._reservation_account_locked": [(shop["reservation"].id,), (0,)],
        "portal.checkout.orders._user_by_id": [(user.id,), (0,)],
        "portal.checkout.orders._reservation_by_key": [(order.idempotency_key,),
                                                      ("no-such-key",)],
        "portal.checkout.orders._locked_reservation": [(shop["reservation"].id,), (0,)],
        "portal.checkout.orders._key_or_in_flight": [
            ("another-key", mine), ("in-flight-order-key-0001", mine),
            ("another-key", theirs), (order.idempotency_key, theirs)],
        "portal.checkout.orders._reservation_of_account": [
            (order.idempotency_key, mine), (order.idempotency_key, theirs), ("no-such-key", mine)],
        "portal.checkout.orders._reservation_to_charge": [(shop["reservation"].id,), (0,)],
        "portal.checkout.orders._method_token": [(card.id,), (0,)],
        "portal.checkout.views._payment_methods": [(mine, card.gateway), (theirs, card.gateway)],
        "portal.core.access._account": [(mine,), (0,)],
        "portal.invoices.numbering._last_sequence": [(year,), (1999,)],
        "portal.invoices.numbering._order_lines": [(order.id,), (0,)],
        "portal.invoices.numbering._card": [(card.id,), (0,)],
        "portal.lifecycle.contacts._billing_contacts": [(mine,), (0,)],
        "portal.lifecycle.contacts._default_method": [(mine, card.gateway),
                                                      (mine, "other-gateway"), (theirs, "x")],
        "portal.lifecycle.renewals._subscription": [(1,), (2,), (0,)],
        "portal.lifecycle.renewals._renewal": [(shop["renewal"].id,), (0,)],
        "portal.lifecycle.renewals._renewal_of_period": [(1, "2026-12-10"), (1, "2027-01-10")],
        "portal.lifecycle.renewals._reservation_in_flight": [(mine, "completed"),
                                                              (mine, "reserved")],
        "portal.mail.outbox._contact_locales": [(mine,), (0,)],
        "portal.payments.gateway._sandbox_token": [(card.token,), ("no-such-token",)],
        "portal.payments.gateway._sandbox_charge": [(shop["charge"].idempotency_key,),
                                                    ("no-such-key",)],
        "portal.core.access._subscription_of_account": [(1, mine), (2, mine), (1, theirs)],
        "portal.core.security._user_by_token": [(user.session_token,), ("no-such-token",)],
        "portal.subscriptions.change._change_subscription": [
            (1, mine, user.id), (2, mine, user.id), (1, theirs, user.id), (1, mine, 0)],
        "portal.subscriptions.change._user_with_subscription": [
            (user.session_token, 1), (user.session_token, 2),
            (user.session_token, shop["their_subscription"]), ("no-such-token", 1)],
        "portal.subscriptions.dashboard._subscriptions": [(mine,), (theirs,), (0,)],
        "portal.subscriptions.dashboard._assigned_counts": [(mine,), (0,)],
        "portal.subscriptions.quotes._cart_items": [(user.id, mine), (user.id, theirs)],
        "portal.subscriptions.quotes._cart_items_locked": [(user.id, mine), (user.id, theirs)],
    }


def seen(row, recurse=True):
    """A row as a caller sees it: its fields and every related row reached through a foreign
    key, and the attributes the query set besides (its other columns, a model joined on an
    expression: its own fields, whose foreign keys the query did not join)."""
    if isinstance(row, tuple):
        return row
    others = {name: seen(value, False) if isinstance(value, peewee.Model) else value
              for name, value in vars(row).items() if not name.startswith("_")}
    return model_to_dict(row, recurse=recurse), others


def observed(rows, count_queries):
    """What a caller sees of ``rows`` (with how many queries reaching the related rows took:
    none for the joined ones)."""
    with count_queries() as queries:
        values = [seen(row) for row in rows]
    return values, queries.count


def test_every_prepared_query_is_tried(shop):
    assert sorted(prepared_queries()) == sorted(arguments(shop))


def test_prepared_rows_equal_the_plain_query(app, shop, count_queries):
    table = arguments(shop)
    with app.app_context(), db.connection_context():
        for name, prepared in prepared_queries().items():
            for args in table[name]:
                for _call in range(2):  # compiled on the first call, reused on the second
                    rows = prepared.rows(*args)
                    plain = list(prepared.plain(*args))
                    assert observed(rows, count_queries) == observed(plain, count_queries), (
                        name, args)
                assert prepared.first(*args) == (plain[0] if plain else None), (name, args)
            assert any(list(prepared.plain(*args)) for args in table[name]), (
                f"{name}: no arguments that find rows")


def test_joined_rows_carry_the_joined_models(app, shop, count_queries):
    with app.app_context(), db.connection_context():
        items = prepared_queries()["portal.subscriptions.quotes._cart_items"].rows(
            shop["user"].id, shop["user"].account_id)
        meeting = next(item for item in items if item.subscription_id == 2)
        with count_queries() as queries:
            joined = (meeting.subscription.plan.code, meeting.subscription.product.code)
        assert queries.count == 0
        assert joined == ("meeting-professional", "meeting")
        # the plan the item wants is not the joined one (the subscription's): read on demand
        assert isinstance(meeting, CartItem) and meeting.plan.code == "meeting-business"


def test_a_prepared_insert_writes_the_row_model_create_writes(app, shop, count_queries):
    from portal.core.db import PreparedInsert
    from portal.core.models import Account, AuditEvent, OutboxMessage
    insert = PreparedInsert(AuditEvent)
    with app.app_context(), db.connection_context():
        account = Account.get_by_id(1)
        for _call in range(2):  # compiled on the first call, reused on the second
            with count_queries() as queries:
                made = insert.create(account=account, user=None, action="test.prepared",
                                     details={"b": [1, 2], "a": "è"})
            assert queries.count == 1
            plain = AuditEvent.create(account=account, user=None, action="test.prepared",
                                      details={"b": [1, 2], "a": "è"})
            assert made.id and made.id + 1 == plain.id
            read, expected = AuditEvent.get_by_id(made.id), AuditEvent.get_by_id(plain.id)
            assert read.created_at is not None and read.created_at <= expected.created_at
            assert model_to_dict(read, exclude=[AuditEvent.id, AuditEvent.created_at]) == (
                model_to_dict(expected, exclude=[AuditEvent.id, AuditEvent.created_at]))
            assert (made.account_id, made.details, made.created_at) == (
                1, {"b": [1, 2], "a": "è"}, read.created_at)
        with pytest.raises(TypeError):
            insert.create(account=1, action="x", no_such_field=1)

        messages = PreparedInsert(OutboxMessage, ignore_conflicts=True)
        values = dict(key="test:1", account=1, kind="order_receipt", recipient="a@example.it",
                      locale="it", subject="s", text_body="t", html_body="h",
                      message_id="<1@example.it>")
        first = messages.create(**values)
        assert first.id and first.state == "pending" and first.attempts == 0
        assert messages.create(**dict(values, subject="again")) is None  # same key: kept
        assert OutboxMessage.get(OutboxMessage.key == "test:1").subject == "s"


def test_a_prepared_write_changes_what_the_plain_update_changes(app, shop):
    from portal.core.db import PreparedWrite
    from portal.core.models import Subscription
    renewed = PreparedWrite(lambda arg: Subscription.update(
        period_end=arg("end", Subscription.period_end), status="active",
        version=Subscription.version + 1).where(Subscription.id == arg("id", Subscription.id)))
    with app.app_context(), db.connection_context():
        before = Subscription.get_by_id(1)
        for n in (1, 2):  # compiled on the first call, reused on the second
            assert renewed.execute(end=dt.date(2027, 2, n), id=1) == 1
            after = Subscription.get_by_id(1)
            assert (after.period_end, after.version) == (dt.date(2027, 2, n), before.version + n)
        assert renewed.execute(end=dt.date(2027, 2, 1), id=0) == 0
        assert Subscription.get_by_id(2).version == 1


ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL: SQLite has no server to prepare on")
def test_the_server_prepares_each_query_once_per_connection(app, count_queries):
    from portal.checkout.cart import _cart_count
    with app.app_context(), db.connection_context():
        with count_queries() as queries:
            assert _cart_count.first(1) == _cart_count.first(1)
        # the portal ran two EXECUTEs of one statement, prepared once on the connection
        ran = [record.msg[0] for record in queries.get_queries()]
        assert len(ran) == 2 and ran[0] == ran[1] and ran[0].startswith("EXECUTE portal_")
        names = [name for (name,) in db.execute_sql(
            "SELECT name FROM pg_prepared_statements").fetchall()]
        assert names == [ran[0].split()[1]]


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL: SQLite has no server to prepare on")
def test_a_statement_the_server_refuses_runs_as_plain_sql_in_its_transaction(app, monkeypatch):
    import portal.core.db as portal_db
    monkeypatch.setattr(portal_db, "_not_preparable", set())
    # a PREPARE the server refuses (here: it names no table that exists)
    refused = portal_db.ServerStatement(
        "portal_refused", "PREPARE portal_refused AS SELECT 1 FROM no_such_table WHERE x = $1",
        "EXECUTE portal_refused (%s)", (0,))
    with app.app_context(), db.connection_context(), db.atomic():
        assert portal_db.execute_prepared("SELECT %s::int", [7], refused).fetchone() == (7,)
        assert portal_db._not_preparable == {"portal_refused"}  # tried, refused, remembered
        assert portal_db.execute_prepared("SELECT %s::int", [8], refused).fetchone() == (8,)
        assert db.execute_sql("SELECT 1").fetchone() == (1,)  # the transaction goes on


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL: SQLite has no server to prepare on")
def test_a_connection_that_lost_its_statements_prepares_them_again(app):
    from portal.checkout.cart import _cart_count
    with app.app_context(), db.connection_context():
        first = _cart_count.first(1)
        db.execute_sql("DISCARD ALL")  # as a pool's reset of a failed connection does
        assert db.execute_sql("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
        assert _cart_count.first(1) == first  # prepared again, outside a transaction
        assert db.execute_sql("SELECT count(*) FROM pg_prepared_statements").fetchone() == (1,)
        db.execute_sql("DISCARD ALL")
        with pytest.raises(peewee.DatabaseError):  # inside one the error aborts it ...
            with db.atomic():
                _cart_count.first(1)
        assert _cart_count.first(1) == first  # ... and the next use prepares again


def test_prepared_queries_are_all_prepared_by_the_server_where_there_is_one(shop):
    import portal.core.db as portal_db
    assert not portal_db._not_preparable  # none ran as plain SQL after a refusal


def test_the_setting_turns_server_prepared_statements_off(make_app, monkeypatch,
                                                          count_queries):
    import portal.core.db as portal_db
    from portal.checkout.cart import _cart_count
    monkeypatch.setattr(portal_db, "SERVER_PREPARE", None)
    app = make_app(DATABASE_SERVER_PREPARE=False)
    with app.app_context(), db.connection_context():
        assert portal_db.SERVER_PREPARE is False and not portal_db.server_prepares()
        with count_queries() as queries:  # the prepared query runs as plain SQL
            _cart_count.first(1)
        assert [r.msg[0].split()[0] for r in queries.get_queries()] == ["SELECT"]


def test_the_user_read_with_another_accounts_subscription_carries_nothing_of_it(app, shop):
    from portal.core.models import LicenseAssignment
    from portal.subscriptions.change import TO_CHANGE, _user_with_subscription
    user = shop["user"]
    with app.app_context(), db.connection_context():
        theirs = Subscription.get_by_id(shop["their_subscription"])
        LicenseAssignment.create(  # someone else's subscription, with a user assigned
            subscription=theirs, user=User.get(User.account == theirs.account_id))
        theirs = theirs.id
        found = _user_with_subscription.first(user.session_token, theirs)
        assert found.id == user.id and not hasattr(found, TO_CHANGE)
        assert (found.assigned_count, found.other_items) == (0, 0)
        mine = _user_with_subscription.first(user.session_token, 1)
        assert getattr(mine, TO_CHANGE).id == 1
        assert mine.assigned_count == LicenseAssignment.select().where(
            LicenseAssignment.subscription == 1).count() > 0
        assert mine.other_items == 1  # the Meeting change in the cart
