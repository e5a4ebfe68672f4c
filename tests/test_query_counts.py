"""Query budgets of the pages the benchmark loads (issue 10): counts, not times.

Each budget is checked twice: on the demo data, and after the account has grown (hundreds of
users, assignments and pending changes), where the count must not move: a query per row would
show here long before it shows in ``make bench``.
"""
import pytest
from conftest import GIULIA, statements

from portal.core.db import db, is_postgres
from portal.core.models import (Account, CartItem, LicenseAssignment, Order, PaymentMethod,
                                Plan, Subscription, User)
from test_checkout_support import place, review

# 600 licenses: valid before and after grow_rossi() (304 users enabled then).
SUMMARY = "/subscriptions/1/change?plan=webinar-pro&licenses=600&frequency=annual"
LICENSES = "/subscriptions/1/licenses"

#: Today's counts: the summary partial's (the issue's limit is 3) and the other pages'.
SUMMARY_BUDGET = 1   # user (account joined), subscription and both counts: one statement
DASHBOARD_BUDGET = 5  # user (with its account and the catalog version), subscriptions,
#                      assigned counts, cart badge (once), the renewal card (flagged when it
#                      expires before the next renewal)
LICENSES_BUDGET = 7   # user, subscription, users count, users page, assigned, ...
#: user (with its account, for the access check and the page, and the catalog version), cart
#: items (with subscription, plan, product and assigned users; their number is the badge's
#: and says whether the cart is empty), payment methods
REVIEW_BUDGET = 3


def grow_rossi(users=300):
    """Give Rossi Eventi many more users, assignments and a pending cart change."""
    with db.connection_context(), db.atomic():
        rossi = Account.get(Account.name == "Rossi Eventi S.r.l.")
        User.insert_many([{"email": f"grown{i:04d}@example.it", "name": f"Grown {i:04d}",
                           "password_hash": "!", "account": rossi.id, "role": "member",
                           "session_token": f"grown-token-{i:04d}"}
                          for i in range(users)]).execute()
        webinar = Subscription.get_by_id(1)
        Subscription.update(licenses=500).where(Subscription.id == 1).execute()
        grown = User.select(User.id).where(User.email.startswith("grown"))
        LicenseAssignment.insert_many([{"subscription": webinar.id, "user": u.id}
                                       for u in grown]).execute()
        giulia = User.get(User.email == GIULIA)
        meeting = Subscription.get_by_id(2)
        CartItem.create(user=giulia, subscription=meeting.id, plan=meeting.plan_id, licenses=3,
                        frequency="monthly")


def counted(count_queries, giulia, path, htmx=False):
    """(response, statements) of one request, after a warm-up request (the catalog cache)."""
    giulia.get(path, htmx=htmx)
    with count_queries() as queries:
        response = giulia.get(path, htmx=htmx)
    assert response.status_code == 200, response.status_code
    return response, queries


@pytest.mark.parametrize("path,htmx,budget", [
    (SUMMARY, True, SUMMARY_BUDGET),
    ("/", False, DASHBOARD_BUDGET),
    (LICENSES, False, LICENSES_BUDGET),
], ids=["summary", "dashboard", "licenses"])
def test_query_budget_holds_and_does_not_grow_with_the_account(giulia, count_queries, path,
                                                               htmx, budget):
    _, before = counted(count_queries, giulia, path, htmx)
    assert before.count <= budget, statements(before)
    grow_rossi()
    _, after = counted(count_queries, giulia, path, htmx)
    assert after.count == before.count, (statements(before), statements(after))


def test_summary_partial_is_a_small_fragment(giulia, count_queries):
    response, queries = counted(count_queries, giulia, SUMMARY, htmx=True)
    body = response.get_data()
    assert len(body) <= 4096
    assert b"<html" not in body and b'id="order-summary"' in body
    assert queries.count <= SUMMARY_BUDGET


def test_summary_knows_about_other_cart_items_within_its_budget(giulia, count_queries):
    grow_rossi()  # a pending change for the Meeting subscription is now in the cart
    response, queries = counted(count_queries, giulia, SUMMARY, htmx=True)
    assert queries.count <= SUMMARY_BUDGET
    # the action button reads "Add to cart" when other changes are pending
    english = giulia.get(SUMMARY, htmx=True, headers={"Accept-Language": "en"})
    assert "Add to cart" in english.get_data(as_text=True)


def test_review_budget_holds_and_does_not_grow_with_the_account(giulia, count_queries):
    with db.connection_context():
        user = User.get(User.email == GIULIA)
        pro = Plan.get(Plan.code == "webinar-pro")
        CartItem.create(user=user, subscription=1, plan=pro.id, licenses=8, frequency="annual")
    _, before = counted(count_queries, giulia, "/checkout")
    assert before.count <= REVIEW_BUDGET, statements(before)
    grow_rossi()  # and a second pending change, for the Meeting subscription
    response, after = counted(count_queries, giulia, "/checkout")
    assert 'id="review-item-2"' in response.get_data(as_text=True)
    assert after.count == before.count, (statements(before), statements(after))


#: Placing an order charged to a saved card, in the request (``ORDER_CHARGE_THREADS`` 0):
#: user; the replay check and the refused-payments limit; reserve (BEGIN, account locked,
#: the key's and the account's other reservations, cart, saved card, version held,
#: reservation); the card's token and the sandbox's two statements; complete (BEGIN,
#: account and reservation locked, SAVEPOINT, order, subscription, line, its audit,
#: RELEASE, payment attempt, cart emptied, buyer, reservation completed, the order's audit,
#: lines, the receipt's language; under the invoice lock: card, number, invoice row, its
#: audit, the receipt's outbox row). BEGINs count where the engine logs them (SQLite's
#: ``BEGIN IMMEDIATE``); COMMITs, and PostgreSQL's PREPAREs, are not counted.
ORDER_BUDGET = 34
#: On PostgreSQL, messages: what needs no answer travels with the statement after it
#: (``portal.core.db.DeferredCommandsMixin``): the BEGINs, the savepoint and its release, the
#: line, the audit rows, the payment attempt, the cart emptied, the reservation completed,
#: the invoice lock and the receipt's outbox row (with the COMMIT).
ORDER_MESSAGES_POSTGRES = 23


def test_order_statement_budget(giulia, count_queries):
    add_to_cart = CartItem.create
    with db.connection_context():
        user = User.get(User.email == GIULIA)
        pro = Plan.get(Plan.code == "webinar-pro")
        add_to_cart(user=user, subscription=1, plan=pro.id, licenses=8, frequency="annual")
    _html, fields = review(giulia)
    assert place(giulia, fields).status_code == 303  # a new card, saved by the order
    with db.connection_context():
        method = PaymentMethod.get(PaymentMethod.account == user.account_id)
        add_to_cart(user=user, subscription=1, plan=pro.id, licenses=9, frequency="annual")
    _html, fields = review(giulia)
    with count_queries() as queries:
        response = place(giulia, fields, {"payment_method": str(method.id)})
    assert response.status_code == 303, response.status_code
    with db.connection_context():
        assert Order.select().count() == 2
    budget = ORDER_MESSAGES_POSTGRES if is_postgres() else ORDER_BUDGET
    assert queries.count <= budget, statements(queries)
