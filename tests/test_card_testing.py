"""Card testing (issue 20): refused payments are limited per account and per client, and
recorded in the activity log; 30 declined cards used to reach the gateway unchecked."""
import pytest

from conftest import ANNA
from portal.checkout.orders import FAILED_PAYMENT_LIMIT
from portal.core.db import db
from portal.core.models import AuditEvent, PaymentAttempt, User
from portal.payments import gateway as gateway_module
from test_checkout_support import add_to_cart, card_form, review

EN = {"Accept-Language": "en"}
DECLINED = "4000 0000 0000 0002"
LIMITED = ("Too many card payments were refused in the last few minutes. Nothing was charged: "
           "wait 10 minutes before trying again, or contact support.")


@pytest.fixture
def charges(monkeypatch):
    """Counts the charges that reach the gateway."""
    seen = []
    original = gateway_module.SandboxGateway.charge

    def counted(self, *args, **kwargs):
        seen.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(gateway_module.SandboxGateway, "charge", counted)
    return seen


def order(browser, fields, payment, address):
    """POST the order form from a client ``address``."""
    return browser.post("/checkout/order", dict(fields, **payment), headers=EN,
                        environ_base={"REMOTE_ADDR": address})


def decline(browser, times, address="203.0.113.5"):
    """Submit the order ``times`` with a declined card; the statuses."""
    statuses = []
    for _ in range(times):
        _, fields = review(browser)
        statuses.append(order(browser, fields, card_form(number=DECLINED), address).status_code)
    return statuses


def test_the_account_is_stopped_after_five_refused_payments(giulia, charges):
    add_to_cart(1, "webinar-pro", 8, "annual")
    statuses = decline(giulia, FAILED_PAYMENT_LIMIT + 3)
    assert statuses == [402] * FAILED_PAYMENT_LIMIT + [429] * 3
    assert len(charges) == FAILED_PAYMENT_LIMIT  # the others never reached the gateway
    _, fields = review(giulia)
    refused = order(giulia, fields, card_form(), "198.51.100.1")  # another address too
    assert refused.status_code == 429 and LIMITED in refused.get_data(as_text=True)
    with db.connection_context():
        attempts = PaymentAttempt.select()
        assert [a.client for a in attempts] == ["203.0.113.5"] * FAILED_PAYMENT_LIMIT
        actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert actions.count("payment.failed") == FAILED_PAYMENT_LIMIT
    assert actions.count("payment.limited") == 4
    activity = giulia.get("/activity", headers=EN).get_data(as_text=True)
    assert "A card payment of" in activity and "was refused (card_declined)." in activity
    assert "Too many refused card payments: further payments were blocked for a while." \
        in activity


def test_one_client_is_stopped_across_accounts(giulia, charges):
    """A card tester who used up another account's attempts from this address is stopped
    here too; the same account from another address goes on."""
    with db.connection_context():
        anna = User.get(User.email == ANNA)
        for number in range(FAILED_PAYMENT_LIMIT):
            PaymentAttempt.create(account=anna.account, user=anna, idempotency_key=f"k{number}",
                                  amount_cents=100, status="declined", client="203.0.113.5")
    add_to_cart(1, "webinar-pro", 8, "annual")
    _, fields = review(giulia)
    assert order(giulia, fields, card_form(), "203.0.113.5").status_code == 429
    assert charges == []
    placed = order(giulia, fields, card_form(), "198.51.100.1")
    assert placed.status_code == 303 and len(charges) == 1


def test_payments_below_the_limit_go_on(giulia, charges):
    add_to_cart(1, "webinar-pro", 8, "annual")
    assert decline(giulia, FAILED_PAYMENT_LIMIT - 1) == [402] * (FAILED_PAYMENT_LIMIT - 1)
    _, fields = review(giulia)
    assert order(giulia, fields, card_form(), "203.0.113.5").status_code == 303
