"""Orders charged in the background (``ORDER_CHARGE_THREADS``): the request reserves the order
and answers at once; a charging thread charges and completes it; the "being processed" page
follows it until it is placed or refused, with htmx and without."""
import datetime as dt
import re
import threading

import pytest

from conftest import Browser, GIULIA
from portal.checkout import orders
from portal.checkout.charging import background_charges
from portal.core.db import db
from portal.core.models import (Order, OrderReservation, PaymentAttempt, PaymentMethod,
                                SandboxCharge, Subscription, User)
from portal.payments.gateway import GatewayError, SandboxGateway
from test_checkout_support import (account, add_to_cart, card_form, counts, form_fields,
                                   order_id_from, place, review, subscription)


@pytest.fixture
def app(make_app):
    """The portal charging orders on two threads."""
    app = make_app(ORDER_CHARGE_THREADS=2)
    yield app
    background_charges(app).join()
    if not db.is_closed():
        db.close()


@pytest.fixture
def giulia(app):
    browser = Browser(app.test_client())
    browser.login(GIULIA)
    return browser


@pytest.fixture
def held_gateway(monkeypatch):
    """The sandbox's charges wait until ``release`` is set (a slow provider)."""
    release = threading.Event()
    original = SandboxGateway.charge

    def charge(self, *args, **kwargs):
        assert release.wait(10), "the test never released the gateway"
        return original(self, *args, **kwargs)
    monkeypatch.setattr(SandboxGateway, "charge", charge)
    return release


def pending_key(response):
    """The key of a redirect to the "being processed" page."""
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    match = re.fullmatch(r".*/orders/pending/([A-Za-z0-9_-]+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def state(key):
    """The reservation's state now."""
    with db.connection_context():
        return OrderReservation.get(OrderReservation.idempotency_key == key).state


def test_the_request_reserves_and_a_thread_charges_while_the_page_waits(app, giulia,
                                                                        held_gateway):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)

    key = pending_key(place(giulia, fields))

    # Answered before the gateway: held, nothing charged, nothing applied yet.
    assert key == fields["idempotency_key"] and state(key) == "reserved"
    assert counts()["Order"] == 0
    assert SandboxGateway.charges().get(key) is None
    page = giulia.get(f"/orders/pending/{key}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-state="reserved"' in html
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in html
    assert f'hx-get="/orders/pending/{key}"' in html
    assert 'hx-trigger="load delay:250ms, poll-retry"' in html
    assert 'data-poll-retry-ms="2000"' in html and """hx-request='{"timeout": 10000}'""" in html
    # The page's poll: only the poller again, to ask once more (later as the charge ages).
    poll = giulia.get(f"/orders/pending/{key}", htmx=True)
    body = poll.get_data(as_text=True)
    assert poll.status_code == 200 and body.startswith('<div id="order-poll" hidden')
    assert 'hx-trigger="load delay:250ms, poll-retry"' in body and "<h1" not in body
    assert "no-store" in poll.headers["Cache-Control"]

    def poll_later(seconds):
        """The poll's answer once the reservation is ``seconds`` older."""
        with db.connection_context():
            reservation = OrderReservation.get(OrderReservation.idempotency_key == key)
            reservation.updated_at -= dt.timedelta(seconds=seconds)
            reservation.save()
        return giulia.get(f"/orders/pending/{key}", htmx=True).get_data(as_text=True)

    body = poll_later(30)  # half a minute old
    assert 'hx-trigger="load delay:1000ms, poll-retry"' in body
    assert 'data-poll-retry-ms="2000"' in body
    body = poll_later(90)  # two minutes: a reservation reconciliation decides
    assert 'hx-trigger="load delay:5000ms, poll-retry"' in body
    assert 'data-poll-retry-ms="10000"' in body

    held_gateway.set()
    background_charges(app).join()

    assert state(key) == "completed"
    done = giulia.get(f"/orders/pending/{key}")
    order_id = order_id_from(done)
    poll = giulia.get(f"/orders/pending/{key}", htmx=True)
    assert poll.headers["HX-Redirect"] == f"/orders/{order_id}"
    assert SandboxGateway.charges()[key].amount_cents == 2291812
    with db.connection_context():
        assert Order.get_by_id(order_id).due_cents == 2291812
    sub = subscription(1)
    assert (sub.plan.code, sub.licenses, sub.frequency) == ("webinar-pro", 8, "annual")
    assert account().balance_cents == 0 == account().ledger
    assert counts()["CartItem"] == 0
    assert "2026/000001" in giulia.get(f"/orders/{order_id}").get_data(as_text=True)


def test_a_second_submit_while_charging_answers_at_once_and_charges_once(app, giulia,
                                                                         held_gateway):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    first = pending_key(place(giulia, fields))
    second = pending_key(place(giulia, fields))  # a double click: no wait for the first
    assert first == second and state(first) == "reserved"

    held_gateway.set()
    background_charges(app).join()

    order_id_from(giulia.get(f"/orders/pending/{first}"))
    assert counts()["Order"] == 1
    with db.connection_context():
        [attempt] = PaymentAttempt.select()
    assert (attempt.status, attempt.idempotency_key) == ("succeeded", first)


def test_another_order_of_the_account_waits_for_the_one_being_charged(app, giulia,
                                                                        held_gateway):
    """Another tab: a fresh review while the first order is held would hold the next
    version, be charged too, and leave the first one charged but impossible to apply."""
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    first = pending_key(place(giulia, fields))
    _, other = review(giulia)  # the cart still holds the change until the order completes
    assert other["idempotency_key"] != first

    refused = place(giulia, other)
    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert 'id="in-flight-notice"' in html
    assert form_fields(html)["idempotency_key"] not in (first, other["idempotency_key"])

    with db.connection_context():
        assert OrderReservation.select().count() == 1
    held_gateway.set()
    background_charges(app).join()
    order_id_from(giulia.get(f"/orders/pending/{first}"))
    assert counts()["Order"] == 1
    assert SandboxGateway.charges().get(other["idempotency_key"]) is None
    assert account().balance_cents == 0 == account().ledger


def test_a_job_that_waited_past_a_release_charges_nothing(app, giulia, monkeypatch):
    """The queue backed up for longer than the reconciliation timeout: reconciliation found
    no charge and released the order, then the job ran."""
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    queued = []
    monkeypatch.setattr(background_charges(app), "submit",
                        lambda function, *args: queued.append((function, args)))
    key = pending_key(place(giulia, fields))
    with app.app_context():
        assert orders.reconcile_pending_orders(timeout=dt.timedelta(0))["released"] == 1
    assert state(key) == "released"

    [(function, args)] = queued
    with app.app_context():
        function(*args)

    assert state(key) == "released" and SandboxGateway.charges().get(key) is None
    assert counts()["Order"] == 0
    assert subscription(1).version == 1
    assert account().balance_cents == 5000 == account().ledger


def test_reconciliation_leaves_alone_an_order_a_thread_has_just_claimed(app, giulia,
                                                                        held_gateway):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    key = pending_key(place(giulia, fields))
    with db.connection_context():  # reserved long ago, as reconciliation's query sees it
        reservation = OrderReservation.get(OrderReservation.idempotency_key == key)
        claimed_at = reservation.updated_at
    cutoff = claimed_at - dt.timedelta(seconds=1)  # the thread claimed it after this moment
    with app.app_context():
        assert orders._settle_unpaid(reservation.id, cutoff) is False
    assert state(key) == "reserved"
    held_gateway.set()
    background_charges(app).join()
    assert state(key) == "completed" and counts()["Order"] == 1


@pytest.mark.parametrize("number,state_after,code", [
    ("4000 0000 0000 0127", "failed", "incorrect_cvc"),
    ("4000 0000 0000 0119", "unconfirmed", "processing_error"),
])
def test_a_refused_charge_shows_the_review_with_the_reason_then_a_retry_places_it(
        app, giulia, number, state_after, code):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    key = pending_key(place(giulia, fields, card_form(number=number)))
    background_charges(app).join()
    assert state(key) == state_after

    poll = giulia.get(f"/orders/pending/{key}", htmx=True)
    assert poll.headers["HX-Redirect"] == f"/orders/pending/{key}"  # a whole page now
    page = giulia.get(f"/orders/pending/{key}")
    html = page.get_data(as_text=True)
    assert page.status_code == 402  # as the order's own answer was when charged in it
    assert f'id="payment-error" data-code="{code}"' in html
    assert number.replace(" ", "") not in html
    # Nothing changed but the attempt; the hold is undone.
    assert subscription(1).version == 1
    assert account().balance_cents == 5000 == account().ledger
    retry = form_fields(html)
    # After a gateway failure the retry keeps the key (the charge may have gone through).
    assert (retry["idempotency_key"] == key) == (state_after == "unconfirmed")

    again = pending_key(place(giulia, retry))
    background_charges(app).join()
    order_id_from(giulia.get(f"/orders/pending/{again}"))
    assert counts()["Order"] == 1
    charged = [c for k, c in SandboxGateway.charges().items() if k in (key, again)]
    assert [c.amount_cents for c in charged] == [2291812]


def test_another_users_refused_order_is_not_shown_as_their_review(app, giulia):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    key = pending_key(place(giulia, fields, card_form(number="4000 0000 0000 0127")))
    background_charges(app).join()
    with db.connection_context():  # placed by someone else of the account
        reservation = OrderReservation.get(OrderReservation.idempotency_key == key)
        other = User.get((User.account == reservation.account_id)
                         & (User.id != reservation.user_id))
        reservation.user = other
        reservation.save()
    page = giulia.get(f"/orders/pending/{key}")
    html = page.get_data(as_text=True)
    assert 'data-state="failed"' in html and 'id="payment-error"' not in html


def test_a_thread_that_fails_after_charging_leaves_the_order_to_reconciliation(
        app, giulia, monkeypatch):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    complete = orders.complete_reservation

    def crash(*args):
        raise GatewayError("simulated crash after the charge")
    monkeypatch.setattr(orders, "complete_reservation", crash)
    key = pending_key(place(giulia, fields))
    background_charges(app).join()

    assert state(key) == "reserved" and counts()["Order"] == 0
    assert 'data-state="reserved"' in giulia.get(f"/orders/pending/{key}").get_data(as_text=True)
    monkeypatch.setattr(orders, "complete_reservation", complete)
    with app.app_context():
        outcome = orders.reconcile_pending_orders(timeout=orders.dt.timedelta(0))
    assert outcome["completed"] == 1
    order_id_from(giulia.get(f"/orders/pending/{key}"))
    assert SandboxGateway.charges()[key].amount_cents == 2291812
    assert account().balance_cents == 0 == account().ledger


def test_a_thread_charges_the_saved_card_the_order_chose(app, giulia):
    # the first order saves its new card; the second pays with it, on a charging thread
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    pending_key(place(giulia, fields))
    background_charges(app).join()
    with db.connection_context():
        card = PaymentMethod.get(PaymentMethod.account == account().id)
    add_to_cart(1, "webinar-pro", 9, "annual")
    _, fields = review(giulia)

    key = pending_key(place(giulia, fields, {"payment_method": str(card.id)}))
    background_charges(app).join()

    assert state(key) == "completed"
    charge = SandboxGateway.charges()[key]
    with db.connection_context():
        order = Order.get(Order.idempotency_key == key)
        assert order.payment_method_id == card.id and order.due_cents == charge.amount_cents > 0
        assert SandboxCharge.get(SandboxCharge.idempotency_key == key).token == card.token
    assert subscription(1).licenses == 9


def test_a_subscription_changed_under_the_hold_writes_no_order_and_no_card(app, giulia,
                                                                         held_gateway):
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    key = pending_key(place(giulia, fields))  # a new card, saved only with the order
    before = counts()
    with db.connection_context():  # something moved the subscription past the held version
        Subscription.update(version=Subscription.version + 1).where(
            Subscription.id == 1).execute()

    held_gateway.set()
    background_charges(app).join()

    # charged, but not applicable: kept for support, and nothing of the order written
    assert state(key) == "refund_due"
    assert SandboxGateway.charges()[key].amount_cents > 0
    after = counts()
    assert after["Order"] == before["Order"] == 0
    assert after["OrderLine"] == before["OrderLine"]
    assert after["PaymentMethod"] == before["PaymentMethod"]
    assert after["Invoice"] == before["Invoice"]
