"""Demo data of SPEC section 5, seeded into an empty database by ``make run``."""
import datetime as dt

from dateutil.relativedelta import relativedelta

from portal.core.db import db
from portal.core.models import (Account, LedgerEntry, LicenseAssignment, PaymentMethod, Plan,
                                Renewal, Subscription, User)
from portal.payments.gateway import CardDetails, get_gateway

DEMO_PASSWORD = "demo1234"

DEMO_LOGINS = [
    ("giulia.rossi@example.it", "billing contact, Rossi Eventi S.r.l."),
    ("marco.verdi@example.it", "member, Rossi Eventi S.r.l."),
    ("anna.bianchi@example.com", "billing contact, Globex Italia S.p.A. (corporate)"),
    ("elena.marino@example.it", "billing contact, Marino Consulenze (renews tomorrow)"),
    ("davide.costa@example.it", "billing contact, Costa Design (payment overdue)"),
]

ROSSI_MEMBERS = [
    ("marco.verdi@example.it", "Marco Verdi"),
    ("laura.neri@example.it", "Laura Neri"),
    ("paolo.gallo@example.it", "Paolo Gallo"),
    ("sara.conti@example.it", "Sara Conti"),
    ("luca.ferri@example.it", "Luca Ferri"),
]


def make_user(account, email, name, role="member", password=DEMO_PASSWORD, locale=None):
    """Create a user with a hashed password."""
    user = User(account=account, email=email.strip().lower(), name=name, role=role, locale=locale)
    user.set_password(password)
    user.save()
    return user


def seed_demo(today, password=DEMO_PASSWORD, lifecycle=True):
    """Create the demo accounts; ``today`` is the date the demo periods are relative to.

    ``lifecycle`` adds the two accounts that show renewals and dunning (SPEC §5): one whose
    subscription renews tomorrow, one whose renewal was declined (past due, with its
    banner). The test suite's own data leaves them out.
    """
    plans = {p.code: p for p in Plan.select()}
    if "webinar-standard" not in plans:
        raise RuntimeError("load the catalog first (flask --app portal catalog load)")
    with db.atomic():
        rossi = Account.create(name="Rossi Eventi S.r.l.", kind="self_service", country="IT",
                               vat_number="IT01234560124",
                               address="Via Roma 1\n20121 Milano MI", balance_cents=5000,
                               street="Via Roma 1", postal_code="20121", city="Milano",
                               province="MI", codice_fiscale="01234560124",
                               sdi_code="M5UXCR1")
        LedgerEntry.create(account=rossi, amount_cents=5000, kind="opening")
        giulia = make_user(rossi, "giulia.rossi@example.it", "Giulia Rossi", "billing_contact",
                           password)
        members = [make_user(rossi, email, name, password=password)
                   for email, name in ROSSI_MEMBERS]
        start = today - dt.timedelta(days=16)
        webinar = Subscription.create(
            account=rossi, product=plans["webinar-standard"].product,
            plan=plans["webinar-standard"], licenses=5, frequency="monthly",
            period_start=start, period_end=start + relativedelta(months=1), status="active",
            price_cents=plans["webinar-standard"].monthly_cents)
        for user in [giulia] + members[:3]:
            LicenseAssignment.create(subscription=webinar, user=user)
        Subscription.create(
            account=rossi, product=plans["meeting-professional"].product,
            plan=plans["meeting-professional"], licenses=1, frequency="monthly",
            period_start=today - dt.timedelta(days=33), period_end=today - dt.timedelta(days=3),
            status="trial_expired")

        globex = Account.create(name="Globex Italia S.p.A.", kind="corporate", country="IT",
                                vat_number="IT00743110157",
                                address="Corso Venezia 10\n20121 Milano MI",
                                street="Corso Venezia 10", postal_code="20121", city="Milano",
                                province="MI", sdi_code="KRRH6B9")
        make_user(globex, "anna.bianchi@example.com", "Anna Bianchi", "billing_contact", password)
        make_user(globex, "piero.russo@example.com", "Piero Russo", password=password)
        Subscription.create(
            account=globex, product=plans["webinar-enterprise"].product,
            plan=plans["webinar-enterprise"], licenses=200, frequency="annual",
            period_start=today - relativedelta(months=4),
            period_end=today - relativedelta(months=4) + relativedelta(years=1), status="active")
    if lifecycle:
        seed_lifecycle(today, plans, password)
    return rossi, globex


def saved_card(account, number, holder):
    """A card saved through the configured gateway, the default for renewals."""
    gateway = get_gateway()
    token = gateway.tokenize(CardDetails(number=number, exp_month=12, exp_year=today_year() + 3,
                                         cvc="123", holder=holder))
    return PaymentMethod.create(account=account, gateway=gateway.name, token=token.token,
                                brand=token.brand, last4=token.last4,
                                exp_month=token.exp_month, exp_year=token.exp_year,
                                holder=token.holder, is_default=True)


def today_year():
    """This year (card expiries in the demo are a few years ahead of it)."""
    return dt.date.today().year


def seed_lifecycle(today, plans, password):
    """Marino Consulenze renews tomorrow; Costa Design's renewal was declined two days ago."""
    with db.atomic():
        marino = Account.create(name="Marino Consulenze S.a.s.", kind="self_service",
                                country="IT", vat_number="IT00743110157",
                                address="Via Garibaldi 7\n10122 Torino TO",
                                street="Via Garibaldi 7", postal_code="10122", city="Torino",
                                province="TO", pec="fatture@pec.marinoconsulenze.example.it")
        elena = make_user(marino, "elena.marino@example.it", "Elena Marino", "billing_contact",
                          password)
        lite = plans["webinar-lite"]
        start = today + dt.timedelta(days=1) - relativedelta(months=1)
        webinar = Subscription.create(
            account=marino, product=lite.product, plan=lite, licenses=3, frequency="monthly",
            period_start=start, period_end=today + dt.timedelta(days=1), status="active",
            price_cents=lite.monthly_cents)
        LicenseAssignment.create(subscription=webinar, user=elena)
        saved_card(marino, "4242424242424242", "Elena Marino")

        costa = Account.create(name="Costa Design S.r.l.", kind="self_service", country="IT",
                               vat_number="IT01234560124", address="Via Po 3\n00198 Roma RM",
                               street="Via Po 3", postal_code="00198", city="Roma",
                               province="RM", sdi_code="USAL8PV")
        davide = make_user(costa, "davide.costa@example.it", "Davide Costa", "billing_contact",
                           password)
        business = plans["meeting-business"]
        ended = today - dt.timedelta(days=2)
        meeting = Subscription.create(
            account=costa, product=business.product, plan=business, licenses=4,
            frequency="monthly", period_start=ended - relativedelta(months=1),
            period_end=ended, status="past_due", price_cents=business.monthly_cents)
        LicenseAssignment.create(subscription=meeting, user=davide)
        card = saved_card(costa, "4000000000000002", "Davide Costa")
        subtotal = business.monthly_cents * 4
        vat = subtotal * 22 // 100  # 22 % of 76,00 € is exactly 16,72 €
        Renewal.create(
            subscription=meeting, period_start=ended,
            period_end=ended + relativedelta(months=1), state="failed", plan=business,
            licenses=4, frequency="monthly", unit_price_cents=business.monthly_cents,
            subtotal_cents=subtotal, vat_rate="0.22", vat_reason="it_vat", vat_cents=vat,
            total_cents=subtotal + vat, applied_cents=0, due_cents=subtotal + vat, attempts=2,
            charge_key=f"demo-renewal-{meeting.id}-2", payment_method=card,
            error_code="card_declined", next_retry_on=ended + dt.timedelta(days=3))
