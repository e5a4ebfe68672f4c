"""No data lost (issue 9): ``flask db backup PATH`` while orders are being placed.

Every copy must be a consistent database: the ledger sums equal the cached balances, every
order has its lines and its invoice, invoice numbers have no gaps, each subscription's
version counts its orders. Restoring a copy (pointing the portal at it) gives a portal that
works, and where the next order continues the invoice numbering.
"""
import os
import sqlite3
import threading

import pytest

from conftest import BASE_CONFIG, GIULIA, PASSWORD, TODAY, Browser
from portal import create_app
from portal.core.db import db
from test_checkout_support import add_to_cart, card_form, order_id_from, review

pytestmark = pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                                reason="db backup copies SQLite; PostgreSQL uses pg_dump")

ORDERS = 8


def check_consistent(path):
    """Open the copy with plain sqlite3 and check every invariant; the number of orders."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        for account_id, balance, ledger in conn.execute(
                "SELECT a.id, a.balance_cents, COALESCE(SUM(l.amount_cents), 0) "
                "FROM account a LEFT JOIN ledger_entry l ON l.account_id = a.id GROUP BY a.id"):
            assert balance == ledger, (account_id, balance, ledger)
        orders = conn.execute("SELECT id FROM \"order\"").fetchall()
        for (order_id,) in orders:
            lines = conn.execute("SELECT COUNT(*) FROM order_line WHERE order_id = ?",
                                 (order_id,)).fetchone()[0]
            invoices = conn.execute("SELECT COUNT(*) FROM invoice WHERE order_id = ?",
                                    (order_id,)).fetchone()[0]
            assert (lines, invoices) == (1, 1), (order_id, lines, invoices)
        sequences = [s for (s,) in conn.execute("SELECT sequence FROM invoice ORDER BY sequence")]
        assert sequences == list(range(1, len(sequences) + 1))
        # Each order, placed or reserved (held between its steps, which reconciliation
        # finishes after a restore), bumped the subscription's version once.
        version = conn.execute("SELECT version FROM subscription WHERE id = 1").fetchone()[0]
        held = conn.execute("SELECT COUNT(*) FROM order_reservation "
                            "WHERE state = 'reserved'").fetchone()[0]
        assert held <= 1
        assert version == 1 + len(orders) + held
        # The cart item an order consumed is gone in the same copy.
        cart = conn.execute("SELECT COUNT(*) FROM cart_item").fetchone()[0]
        assert cart <= 1
        return len(orders)
    finally:
        conn.close()


def place_orders(app, count, errors):
    """Place ``count`` orders one after another, each changing the licenses of Webinar."""
    try:
        browser = Browser(app.test_client())
        browser.login(GIULIA, PASSWORD)
        for i in range(count):
            add_to_cart(1, "webinar-pro", 8 + i, "annual")
            _, fields = review(browser)
            data = dict(fields, **card_form())
            order_id_from(browser.post("/checkout/order", data))
    except Exception as exc:  # reported by the test, not lost in the thread
        errors.append(exc)
    finally:
        if not db.is_closed():
            db.close()


def test_backup_while_orders_are_placed_is_consistent_and_restorable(app, runner, tmp_path):
    errors = []
    writer = threading.Thread(target=place_orders, args=(app, ORDERS, errors))
    writer.start()
    copies = []
    while writer.is_alive() or len(copies) < 3:
        path = tmp_path / f"backup-{len(copies):03d}.sqlite3"
        result = runner.invoke(args=["db", "backup", str(path)])
        assert result.exit_code == 0, result.output
        assert f"to {path}" in result.output
        copies.append(path)
        if len(copies) > 200:
            break
    writer.join(120)
    assert not errors, errors
    if not db.is_closed():
        db.close()

    seen = [check_consistent(path) for path in copies]
    assert seen == sorted(seen)  # later copies never lose orders
    assert len(set(seen)) > 1, seen  # copies were really taken while orders went in
    final = tmp_path / "final.sqlite3"
    assert runner.invoke(args=["db", "backup", str(final)]).exit_code == 0
    assert check_consistent(final) == ORDERS

    # Restore: point a portal at the copy; it serves the data and takes the next order.
    restored = tmp_path / "restored.sqlite3"
    os.replace(final, restored)
    restored_app = create_app(dict(BASE_CONFIG, DATABASE_URL=f"sqlite:///{restored}",
                                   FIXED_TODAY=TODAY, RATELIMIT_ENABLED=False))
    from portal.catalog.store import invalidate
    invalidate()
    browser = Browser(restored_app.test_client())
    browser.login(GIULIA, PASSWORD)
    invoices = browser.get("/invoices").get_data(as_text=True)
    assert f"2026/{ORDERS:06d}" in invoices
    add_to_cart(1, "webinar-pro", 8 + ORDERS, "annual")
    _, fields = review(browser)
    order_id_from(browser.post("/checkout/order", dict(fields, **card_form())))
    if not db.is_closed():
        db.close()
    assert check_consistent(restored) == ORDERS + 1


def test_backup_refuses_an_unwritable_path(runner, tmp_path):
    result = runner.invoke(args=["db", "backup", str(tmp_path / "missing-dir" / "x.sqlite3")])
    assert result.exit_code != 0
