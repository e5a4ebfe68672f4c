"""Demo data of SPEC section 5, seeded into an empty database by ``make run``."""
import datetime as dt

from dateutil.relativedelta import relativedelta

from portal.core.db import db
from portal.core.models import Account, LedgerEntry, LicenseAssignment, Plan, Subscription, User

DEMO_PASSWORD = "demo1234"

DEMO_LOGINS = [
    ("giulia.rossi@example.it", "billing contact, Rossi Eventi S.r.l."),
    ("marco.verdi@example.it", "member, Rossi Eventi S.r.l."),
    ("anna.bianchi@example.com", "billing contact, Globex Italia S.p.A. (corporate)"),
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


def seed_demo(today, password=DEMO_PASSWORD):
    """Create the demo accounts; ``today`` is the date the demo periods are relative to."""
    plans = {p.code: p for p in Plan.select()}
    if "webinar-standard" not in plans:
        raise RuntimeError("load the catalog first (flask --app portal catalog load)")
    with db.atomic():
        rossi = Account.create(name="Rossi Eventi S.r.l.", kind="self_service", country="IT",
                               vat_number="IT01234560124",
                               address="Via Roma 1\n20121 Milano MI", balance_cents=5000)
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
                                address="Corso Venezia 10\n20121 Milano MI")
        make_user(globex, "anna.bianchi@example.com", "Anna Bianchi", "billing_contact", password)
        make_user(globex, "piero.russo@example.com", "Piero Russo", password=password)
        Subscription.create(
            account=globex, product=plans["webinar-enterprise"].product,
            plan=plans["webinar-enterprise"], licenses=200, frequency="annual",
            period_start=today - relativedelta(months=4),
            period_end=today - relativedelta(months=4) + relativedelta(years=1), status="active")
    return rossi, globex
