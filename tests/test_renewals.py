"""Renewals and dunning (SPEC §3.2), run the way the worker runs them: ``run_billing(day)``.

The demo's Webinar subscription: Standard, 5 licenses, monthly, 2026-11-10 -> 2026-12-10,
paid at 119 € per license; the account has a 50 € credit balance.
"""
import datetime as dt
import threading

import pytest
import time_machine
from playhouse.shortcuts import model_to_dict

from conftest import GIULIA, Browser

from portal.core.db import db
from portal.core.models import (Account, Invoice, LedgerEntry, Order, PaymentMethod, Renewal,
                                Subscription, User, ledger_sum)
from portal.lifecycle import renewals
from portal.lifecycle.renewals import PayNowError, pay_now, run_billing
from portal.payments.gateway import CardDetails, SandboxGateway, get_gateway
from test_checkout_support import add_to_cart, place, review

GOOD = "4242424242424242"
DECLINED = "4000000000000002"
START = dt.date(2026, 12, 10)


@pytest.fixture
def ctx(app):
    with app.app_context(), db.connection_context():
        yield app


def save_card(number, default=True):
    """A card saved on Rossi Eventi (account 1) through the gateway, as the pages do."""
    gateway = get_gateway()
    token = gateway.tokenize(CardDetails(number=number, exp_month=12, exp_year=2035, cvc="123",
                                         holder="Giulia Rossi"))
    if default:
        PaymentMethod.update(is_default=False).where(PaymentMethod.account == 1).execute()
    return PaymentMethod.create(account=1, gateway=gateway.name, token=token.token,
                                brand=token.brand, last4=token.last4, exp_month=12,
                                exp_year=2035, holder="Giulia Rossi", is_default=default)


def month(n):
    """The n-th monthly renewal date after 2026-12-10 (n = 0 is 2026-12-10)."""
    year, index = divmod(12 - 1 + n, 12)
    return dt.date(2026 + year, index + 1, 10)


def state():
    sub = Subscription.get_by_id(1)
    account = Account.get_by_id(1)
    return sub, account, ledger_sum(1)


def test_a_year_of_monthly_renewals(ctx):
    save_card(GOOD)
    assert run_billing(dt.date(2026, 12, 9)).renewed == []  # not due yet
    for n in range(12):
        report = run_billing(month(n))
        assert report.renewed == [1], (n, report)
        assert run_billing(month(n)).renewed == []  # a second run the same day: nothing
    sub, account, ledger = state()
    assert (sub.period_start, sub.period_end, sub.status) == (month(11), month(12), "active")
    assert sub.version == 13 and sub.price_cents == 11900
    invoices = list(Invoice.select().order_by(Invoice.sequence))
    assert len(invoices) == 12
    assert [i.number for i in invoices[:2]] == ["2026/000001", "2027/000001"]
    assert account.balance_cents == ledger == 0  # the 50 € went to the first renewal
    orders = list(Order.select().order_by(Order.id))
    assert orders[0].total_cents == 72590 and orders[0].due_cents == 67590
    assert all(o.total_cents == 72590 and o.due_cents == 72590 for o in orders[1:])
    assert Renewal.select().where(Renewal.state == "completed").count() == 12


def test_a_card_that_fails_in_month_5_and_is_fixed_two_days_later(ctx):
    save_card(GOOD)
    for n in range(4):
        assert run_billing(month(n)).renewed == [1]
    declined = save_card(DECLINED)
    report = run_billing(month(4))
    assert report.failed == [1]
    sub, account, ledger = state()
    assert sub.status == "past_due" and sub.period_end == month(4)  # users keep access
    row = renewals.outstanding(sub)
    assert (row.state, row.next_retry_on, row.error_code) == (
        "failed", month(4) + dt.timedelta(days=1), "card_declined")
    assert run_billing(month(4)).failed == []  # no retry before its day
    assert run_billing(month(4) + dt.timedelta(days=1)).failed == [1]  # retry 1 declined
    good = save_card(GOOD)
    assert pay_now(1, good, get_gateway(), month(4) + dt.timedelta(days=2)) == "completed"
    sub, account, ledger = state()
    assert (sub.status, sub.period_start, sub.period_end) == ("active", month(4), month(5))
    with pytest.raises(PayNowError):
        pay_now(1, good, get_gateway(), month(4) + dt.timedelta(days=2))  # paid already
    for n in range(5, 12):
        assert run_billing(month(n)).renewed == [1]
    assert Invoice.select().count() == 12
    sub, account, ledger = state()
    assert account.balance_cents == ledger == 0 and sub.period_end == month(12)
    assert declined.id != good.id


def test_after_the_last_retry_the_subscription_is_suspended_and_paying_restarts_it(ctx):
    save_card(DECLINED)
    days = [START + dt.timedelta(days=d) for d in (0, 1, 3, 5)]
    outcomes = [run_billing(day) for day in days]
    assert [o.failed for o in outcomes[:3]] == [[1], [1], [1]]
    assert outcomes[3].suspended == [1]
    sub, account, ledger = state()
    assert sub.status == "suspended"
    assert account.balance_cents == ledger == 5000  # the credit held for it came back
    assert run_billing(days[3] + dt.timedelta(days=30)).renewed == []  # nothing renews
    good = save_card(GOOD)
    paid_on = dt.date(2026, 12, 20)
    assert pay_now(1, good, get_gateway(), paid_on) == "completed"
    sub, account, ledger = state()
    assert (sub.status, sub.period_start, sub.period_end) == (
        "active", paid_on, dt.date(2027, 1, 20))
    assert Invoice.select().count() == 1 and account.balance_cents == ledger == 0


def test_a_crash_between_the_charge_and_the_invoice_charges_once(ctx, monkeypatch):
    save_card(GOOD)
    complete = renewals._complete

    def crash(*args, **kwargs):
        raise RuntimeError("power cut after the charge")
    monkeypatch.setattr(renewals, "_complete", crash)
    with pytest.raises(RuntimeError):
        run_billing(START)
    assert Renewal.get().state == "charging" and Invoice.select().count() == 0
    monkeypatch.setattr(renewals, "_complete", complete)
    assert run_billing(START).renewed == []  # it may still be under way: left alone
    with time_machine.travel(dt.datetime.now() + dt.timedelta(minutes=3)):
        assert run_billing(START).renewed == [1]  # cut off: the next run finishes it
    key = Renewal.get().charge_key
    charges = [k for k in SandboxGateway.charges() if k == key]
    assert len(charges) == 1 and Invoice.select().count() == 1
    assert Renewal.get().payment_reference == SandboxGateway.charges()[key].id


def test_two_runs_at_once_renew_once(ctx, app):
    save_card(GOOD)
    results, errors = [], []

    def run():
        try:
            with app.app_context(), db.connection_context():
                results.append(run_billing(START).renewed)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(results) == [[], [], [], [1]]
    assert Invoice.select().count() == 1 and Order.select().count() == 1


def test_a_portal_that_was_down_catches_up_with_the_right_dates(ctx):
    save_card(GOOD)
    report = run_billing(dt.date(2027, 3, 15))  # three periods ended meanwhile
    assert report.renewed == [1, 1, 1, 1]
    sub, _account, _ledger = state()
    assert (sub.period_start, sub.period_end) == (dt.date(2027, 3, 10), dt.date(2027, 4, 10))


def test_auto_renew_off_expires_and_trials_end_by_themselves(ctx):
    Subscription.update(auto_renew=False).where(Subscription.id == 1).execute()
    Subscription.update(status="trialing", period_end=dt.date(2026, 11, 30)).where(
        Subscription.id == 2).execute()
    report = run_billing(START)
    assert report.expired == [1] and report.trials_ended == [2] and report.renewed == []
    assert Subscription.get_by_id(1).status == "expired"
    assert Subscription.get_by_id(2).status == "trial_expired"
    assert Invoice.select().count() == 0 and LedgerEntry.select().count() == 1


def test_without_a_card_the_renewal_fails_like_a_decline(ctx):
    report = run_billing(START)
    assert report.failed == [1]
    assert renewals.outstanding(Subscription.get_by_id(1)).error_code == "no_payment_method"


def test_the_command_runs_everything_due(app, ctx):
    save_card(GOOD)
    result = app.test_cli_runner().invoke(args=["billing", "run", "--today", "2026-12-10"])
    assert result.exit_code == 0, result.output
    assert "renewed: 1" in result.output


def test_a_clock_that_jumps_back_and_forth_renews_each_period_once(ctx):
    save_card(GOOD)
    assert run_billing(month(2)).renewed == [1, 1, 1]  # jumped forward: catches up
    assert run_billing(month(0)).renewed == []  # jumped back: nothing again
    assert run_billing(month(1)).renewed == []
    assert run_billing(month(2)).renewed == []
    assert Invoice.select().count() == 3
    assert [r.period_start for r in Renewal.select().order_by(Renewal.period_start)] == [
        month(0), month(1), month(2)]


def test_a_plan_change_and_a_renewal_in_the_same_second(make_app):
    """The order reviewed before the renewal is refused as stale (the renewal moved the
    subscription's version); the renewal after the order finds nothing due."""
    app = make_app(FIXED_TODAY=START)
    browser = Browser(app.test_client())
    browser.login(GIULIA)

    def billing():
        with app.app_context(), db.connection_context():
            return run_billing(START).renewed
    with app.app_context(), db.connection_context():
        save_card(GOOD)
    add_to_cart(1, "webinar-standard", 6, "monthly")
    _html, fields = review(browser)
    assert billing() == [1]
    assert place(browser, fields).status_code == 409  # the review is shown again
    _html, fields = review(browser)
    assert place(browser, fields).status_code == 303
    assert billing() == []
    with app.app_context(), db.connection_context():
        sub = Subscription.get_by_id(1)
        assert (sub.licenses, sub.period_start) == (6, START)
        assert Invoice.select().count() == 2


def test_renewals_in_several_processes_charge_and_invoice_each_once(ctx):
    """``BILLING_JOBS``: the due list split over forked processes; each subscription is
    renewed once, invoice numbers stay gapless, and a second run does nothing."""
    rossi, webinar = Account.get_by_id(1), Subscription.get_by_id(1)
    save_card(GOOD)
    accounts = [1]
    for n in range(7):
        fields = model_to_dict(rossi, recurse=False, exclude=[Account.id])
        account = Account.create(**dict(fields, name=f"Cliente {n}", balance_cents=0))
        User.create(account=account, email=f"contatto{n}@example.it", name=f"Contatto {n}",
                    role="billing_contact", password_hash="x")
        Subscription.create(**dict(model_to_dict(webinar, recurse=False,
                                                 exclude=[Subscription.id]),
                                   account=account.id))
        card = PaymentMethod.get(PaymentMethod.account == 1)
        PaymentMethod.create(**dict(model_to_dict(card, recurse=False,
                                                  exclude=[PaymentMethod.id]),
                                    account=account.id))
        accounts.append(account.id)
    seen = []
    report = run_billing(START, jobs=3, progress=lambda done, total: seen.append((done, total)))
    due = [s.id for s in Subscription.select().where(Subscription.account.in_(accounts)
                                                     & (Subscription.status == "active"))]
    assert sorted(report.renewed) == sorted(due) and len(due) == 8
    assert seen[0] == (0, 8) and seen[-1] == (8, 8)
    numbers = sorted(i.sequence for i in Invoice.select())
    assert numbers == list(range(1, 9))
    assert Order.select().count() == 8
    assert run_billing(START, jobs=3).renewed == []
    for account_id in accounts:
        assert Account.get_by_id(account_id).balance_cents == ledger_sum(account_id)
