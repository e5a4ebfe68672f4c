"""The data model of the portal (SPEC section 2). Money is always integer cents."""
import datetime as dt
import json
import secrets

from flask import current_app, has_app_context
from flask_login import UserMixin
import peewee
from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
    Check,
    SQL,
    fn,
)
from werkzeug.security import check_password_hash, generate_password_hash

from portal.core.db import PreparedInsert, db


class DateTimeField(peewee.DateTimeField):
    """peewee's, reading SQLite's text (``2026-11-26 09:30:00.123456``) with
    ``datetime.fromisoformat``, in C, before peewee's ``strptime`` formats, tried one by one
    in Python: a page reads a few dozen timestamps. Anything else goes to peewee as before."""

    def python_value(self, value):
        if isinstance(value, str):
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                return parsed
        return super().python_value(value)


class DateField(peewee.DateField):
    """peewee's, reading SQLite's ``2026-11-26`` with ``date.fromisoformat`` (see
    ``DateTimeField``)."""

    def python_value(self, value):
        if isinstance(value, str) and len(value) == 10:
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        return super().python_value(value)


def utcnow():
    """Naive UTC timestamp, the same on every engine."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def password_hash_method():
    """werkzeug's hash method: scrypt unless the configuration says otherwise (the test
    suite uses a cheap one so that thousands of logins stay fast)."""
    if has_app_context():
        return current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    return "scrypt"


def new_token():
    """A random, URL-safe identifier."""
    return secrets.token_urlsafe(24)


class JSONField(TextField):
    """A JSON document stored as text, portable across SQLite and PostgreSQL."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Account(BaseModel):
    name = CharField(max_length=200)
    kind = CharField(max_length=20, default="self_service",
                     constraints=[Check("kind in ('self_service', 'corporate')")])
    country = CharField(max_length=2, default="IT")
    vat_number = CharField(max_length=20, null=True)
    address = TextField(default="")
    # Billing details (SPEC §3.3), the ones an invoice and FatturaPA need; ``address`` above
    # is the free-form address of the first releases, shown until these are filled in.
    street = CharField(max_length=60, null=True)
    postal_code = CharField(max_length=10, null=True)
    city = CharField(max_length=60, null=True)
    province = CharField(max_length=2, null=True)  # Italian "sigla", Italy only
    codice_fiscale = CharField(max_length=16, null=True)
    sdi_code = CharField(max_length=7, null=True)  # SdI recipient code, Italy only
    pec = CharField(max_length=254, null=True)  # certified email, Italy only
    # VIES answer for an EU VAT number outside Italy: valid | invalid | unchecked (the
    # service was unavailable: accepted provisionally, checked again by the worker).
    vies_status = CharField(max_length=10, null=True)
    vies_name = CharField(max_length=200, null=True)
    vies_checked_at = DateTimeField(null=True)
    currency = CharField(max_length=3, default="EUR")
    timezone = CharField(max_length=64, default="Europe/Rome")
    # Cached credit balance; the ledger is the truth and the two are updated in one transaction.
    balance_cents = BigIntegerField(default=0, constraints=[Check("balance_cents >= 0")])
    created_at = DateTimeField(default=utcnow)

    @property
    def is_corporate(self):
        return self.kind == "corporate"

    @property
    def taxable_vat_number(self):
        """The VAT number prices are computed with: one VIES found invalid gives no reverse
        charge (an unchecked one is accepted provisionally)."""
        return None if self.vies_status == "invalid" else self.vat_number


class User(UserMixin, BaseModel):
    email = CharField(max_length=254, unique=True)  # stored lower-case
    name = CharField(max_length=200)
    password_hash = CharField(max_length=255)
    account = ForeignKeyField(Account, backref="users", on_delete="CASCADE")
    role = CharField(max_length=20, default="member",
                     constraints=[Check("role in ('billing_contact', 'member')")])
    locale = CharField(max_length=10, null=True)
    # Flask-Login's id: rotated at logout and password change so old cookies stop working.
    session_token = CharField(max_length=64, unique=True, default=new_token)
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "name"), False),)

    def get_id(self):
        return self.session_token

    @property
    def is_active(self):
        return self.active

    @property
    def is_billing_contact(self):
        return self.role == "billing_contact"

    def set_password(self, password):
        self.password_hash = generate_password_hash(password, method=password_hash_method())
        self.session_token = new_token()

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)

    def replace_password(self, password):
        """A new password, chosen by the user or set by the operator (in the caller's
        transaction): every other session ends (a new session token), and so does every
        login lock (the guesses counted so far are pointless now)."""
        self.set_password(password)
        self.save(only=[User.password_hash, User.session_token])
        LoginLock.delete().where(LoginLock.user == self.id).execute()

    def rotate_session(self):
        """Invalidate every cookie issued so far for this user."""
        self.session_token = new_token()
        self.save(only=[User.session_token])


class LoginLock(BaseModel):
    """Failed logins of one user from one client address, and the lock they earned.

    Keyed by user *and* client so that someone guessing from elsewhere slows themselves
    down, not the owner at their usual address (issue 20).
    """

    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    client = CharField(max_length=64)  # the address as the portal sees it (after PROXY_FIX)
    failures = IntegerField(default=0)
    locked_until = DateTimeField(null=True)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "client"), True),)


class MemberInvitation(BaseModel):
    """An address a billing contact asked to add to the account.

    It becomes a user only when the address owner follows the emailed link and chooses a
    password (or the operator runs ``flask users accept-invitation``): a billing contact can
    neither learn that an address is registered elsewhere nor claim one that is not theirs.
    """

    account = ForeignKeyField(Account, backref="invitations", on_delete="CASCADE")
    email = CharField(max_length=254)  # stored lower-case
    name = CharField(max_length=200)
    invited_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "email"), True),)


class RateLimitCounter(BaseModel):
    """One fixed-window counter of Flask-Limiter (``portal.core.throttle.DatabaseStorage``),
    shared by every process that uses the database."""

    key = CharField(max_length=255, primary_key=True)
    count = IntegerField()
    expires_ms = BigIntegerField()  # end of the window, milliseconds since the epoch


class Product(BaseModel):
    code = CharField(max_length=50, unique=True)
    name = CharField(max_length=100)
    position = IntegerField(default=0)


class Plan(BaseModel):
    code = CharField(max_length=50, unique=True)
    product = ForeignKeyField(Product, backref="plans", on_delete="CASCADE")
    name = CharField(max_length=100)
    tier = IntegerField()
    monthly_cents = BigIntegerField(null=True, constraints=[Check("monthly_cents >= 0")])
    annual_cents = BigIntegerField(null=True, constraints=[Check("annual_cents >= 0")])
    features = JSONField(default=list)
    self_service = BooleanField(default=True)
    # No longer sold: subscriptions on it keep it (and renew at their price paid), nobody
    # else can choose it. DEFAULT in the schema too, as migration 3 adds it.
    retired = BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])

    class Meta:
        indexes = ((("product", "tier"), True),)


class CatalogVersion(BaseModel):
    """One load of the catalog file (``flask catalog load``): the newest row is in force."""

    version = IntegerField(primary_key=True)
    loaded_at = DateTimeField(default=utcnow)
    changes = JSONField(default=list)  # what the load changed, as the command printed it


class Subscription(BaseModel):
    account = ForeignKeyField(Account, backref="subscriptions", on_delete="CASCADE")
    product = ForeignKeyField(Product, on_delete="RESTRICT")
    plan = ForeignKeyField(Plan, on_delete="RESTRICT")
    licenses = IntegerField(constraints=[Check("licenses >= 1")])
    frequency = CharField(max_length=10, constraints=[Check("frequency in ('monthly', 'annual')")])
    period_start = DateField(null=True)
    period_end = DateField(null=True)
    status = CharField(max_length=20, constraints=[
        Check("status in ('trialing', 'active', 'past_due', 'suspended', 'trial_expired', "
              "'expired', 'canceled')")])
    # Off: the subscription expires at the end of its period instead of renewing.
    auto_renew = BooleanField(default=True, constraints=[SQL("DEFAULT TRUE")])
    # What the current period was billed at: net cents per license per period, recorded
    # when the period starts (an order or a renewal); the credit for unused time uses it,
    # never today's catalog. None for a trial, which was not paid for.
    price_cents = BigIntegerField(null=True, constraints=[Check("price_cents >= 0")])
    currency = CharField(max_length=3, default="EUR", constraints=[SQL("DEFAULT 'EUR'")])
    # Optimistic locking: every order bumps it; a review quoted on an older version is stale.
    version = IntegerField(default=1)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "product"), True),)


class LicenseAssignment(BaseModel):
    subscription = ForeignKeyField(Subscription, backref="assignments", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="assignments", on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("subscription", "user"), True),)


class CartItem(BaseModel):
    user = ForeignKeyField(User, backref="cart_items", on_delete="CASCADE")
    subscription = ForeignKeyField(Subscription, on_delete="CASCADE")
    plan = ForeignKeyField(Plan, on_delete="CASCADE")
    licenses = IntegerField(constraints=[Check("licenses >= 1")])
    frequency = CharField(max_length=10)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "subscription"), True),)


class PaymentMethod(BaseModel):
    account = ForeignKeyField(Account, backref="payment_methods", on_delete="CASCADE")
    gateway = CharField(max_length=30)
    token = CharField(max_length=200)  # the gateway's reference; never the card number
    brand = CharField(max_length=30)
    last4 = CharField(max_length=4)
    exp_month = IntegerField()
    exp_year = IntegerField()
    holder = CharField(max_length=200)
    # The card renewals are charged to (one per account).
    is_default = BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])
    created_at = DateTimeField(default=utcnow)


class Order(BaseModel):
    account = ForeignKeyField(Account, backref="orders", on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="RESTRICT")
    idempotency_key = CharField(max_length=64, unique=True)
    fingerprint = CharField(max_length=64)
    subtotal_cents = BigIntegerField()
    vat_rate = CharField(max_length=10)  # Decimal as text, e.g. "0.22"
    vat_reason = CharField(max_length=20)
    vat_cents = BigIntegerField()
    total_cents = BigIntegerField()
    applied_cents = BigIntegerField(default=0)
    due_cents = BigIntegerField(default=0)
    credit_added_cents = BigIntegerField(default=0)
    payment_method = ForeignKeyField(PaymentMethod, null=True, on_delete="SET NULL")
    payment_reference = CharField(max_length=100, null=True)
    created_at = DateTimeField(default=utcnow)


class OrderLine(BaseModel):
    order = ForeignKeyField(Order, backref="lines", on_delete="CASCADE")
    subscription = ForeignKeyField(Subscription, backref="order_lines", on_delete="RESTRICT")
    product_name = CharField(max_length=100)
    old_plan = ForeignKeyField(Plan, null=True, on_delete="RESTRICT", backref="+")
    old_licenses = IntegerField(default=0)
    old_frequency = CharField(max_length=10, null=True)
    new_plan = ForeignKeyField(Plan, on_delete="RESTRICT", backref="+")
    new_licenses = IntegerField()
    new_frequency = CharField(max_length=10)
    unit_price_cents = BigIntegerField()
    credit_cents = BigIntegerField()
    charge_cents = BigIntegerField()
    unused_days = IntegerField(default=0)
    period_days = IntegerField(default=0)
    period_start = DateField()
    period_end = DateField()


class Invoice(BaseModel):
    order = ForeignKeyField(Order, backref="invoices", unique=True, on_delete="RESTRICT")
    account = ForeignKeyField(Account, backref="invoices", on_delete="CASCADE")
    year = IntegerField()
    sequence = IntegerField()
    number = CharField(max_length=20, unique=True)  # e.g. 2026/000042
    issued_on = DateField()
    buyer_name = CharField(max_length=200)
    buyer_address = TextField(default="")
    buyer_country = CharField(max_length=2)
    buyer_vat_number = CharField(max_length=20, null=True)
    # "invoice" (FatturaPA TD01) or "credit_note" (TD04, an order whose total is negative)
    kind = CharField(max_length=12, default="invoice", constraints=[SQL("DEFAULT 'invoice'")])
    # Everything the invoice says, as issued: seller, buyer, lines, VAT and totals (see
    # portal/invoices/snapshot.py). None only for invoices issued before version 5.
    snapshot = JSONField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("year", "sequence"), True),)


class Renewal(BaseModel):
    """The renewal of one subscription for one period: exactly one per (subscription, period).

    ``state``: ``charging`` while a charge under ``charge_key`` may be under way (a crash
    here is finished by the next ``billing run``, which asks the gateway under the same key),
    ``failed`` after a decline (``next_retry_on`` says when dunning tries again), ``completed``
    once the order and invoice are written, ``abandoned`` when the subscription was suspended
    or canceled before it was paid.
    """

    subscription = ForeignKeyField(Subscription, backref="renewals", on_delete="CASCADE")
    period_start = DateField()
    period_end = DateField()
    state = CharField(max_length=20, constraints=[
        Check("state in ('charging', 'failed', 'completed', 'abandoned')")])
    plan = ForeignKeyField(Plan, on_delete="RESTRICT", backref="+")
    licenses = IntegerField()
    frequency = CharField(max_length=10)
    unit_price_cents = BigIntegerField()
    subtotal_cents = BigIntegerField()
    vat_rate = CharField(max_length=10)
    vat_reason = CharField(max_length=20)
    vat_cents = BigIntegerField()
    total_cents = BigIntegerField()
    applied_cents = BigIntegerField()  # credit balance reserved for this renewal
    due_cents = BigIntegerField()
    attempts = IntegerField(default=0)
    charge_key = CharField(max_length=80, null=True)
    payment_method = ForeignKeyField(PaymentMethod, null=True, on_delete="SET NULL")
    payment_reference = CharField(max_length=100, null=True)
    error_code = CharField(max_length=50, null=True)
    next_retry_on = DateField(null=True)
    order = ForeignKeyField(Order, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("subscription", "period_start"), True),)


class PaymentAttempt(BaseModel):
    account = ForeignKeyField(Account, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    idempotency_key = CharField(max_length=64, index=True)
    amount_cents = BigIntegerField()
    status = CharField(max_length=20)  # succeeded | declined | failed
    error_code = CharField(max_length=50, null=True)
    # The client address the attempt came from, to limit card testing per client too.
    client = CharField(max_length=64, null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "created_at"), False), (("client", "created_at"), False))


class LedgerEntry(BaseModel):
    account = ForeignKeyField(Account, backref="ledger", on_delete="CASCADE")
    amount_cents = BigIntegerField()  # + credit added, - credit used
    kind = CharField(max_length=30)  # opening | order_credit | order_applied | adjustment
    order = ForeignKeyField(Order, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)


#: The states of an order on its way (portal/checkout/orders.py explains each).
RESERVATION_STATES = ("reserved", "unconfirmed", "completed", "failed", "released",
                      "refund_due")


class OrderReservation(BaseModel):
    """An order between its steps: reserved, charged outside any transaction, completed.

    ``quote`` is the priced order as reviewed (lines, totals, the day it was priced), so that
    completing it later, even on another day, applies exactly what was charged.
    """

    idempotency_key = CharField(max_length=64, unique=True)
    account = ForeignKeyField(Account, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    fingerprint = CharField(max_length=64)
    state = CharField(max_length=20, constraints=[Check(
        "state in ('reserved', 'unconfirmed', 'completed', 'failed', 'released', "
        "'refund_due')")])
    quote = JSONField()
    due_cents = BigIntegerField(constraints=[Check("due_cents >= 0")])
    applied_cents = BigIntegerField(constraints=[Check("applied_cents >= 0")])
    currency = CharField(max_length=3)
    payment_method = ForeignKeyField(PaymentMethod, null=True, on_delete="SET NULL")
    new_card = JSONField(null=True)  # a new card's token and display details, never its number
    charge_reference = CharField(max_length=100, null=True)
    error_code = CharField(max_length=50, null=True)
    #: The charge may have happened although the gateway reported a failure (a timeout).
    gateway_failed = BooleanField(default=False)
    order = ForeignKeyField(Order, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("state", "updated_at"), False),)


class SandboxToken(BaseModel):
    """The sandbox gateway's saved cards: what a charge to each token does (never the number).

    A real provider keeps this itself; the table is shared by every process of the portal.
    """

    token = CharField(max_length=200, primary_key=True)
    outcome = CharField(max_length=10)  # succeeds | declined | error
    code = CharField(max_length=50, null=True)
    created_at = DateTimeField(default=utcnow)


class SandboxCharge(BaseModel):
    """The sandbox gateway's successful charges, one per idempotency key."""

    idempotency_key = CharField(max_length=64, primary_key=True)
    charge_id = CharField(max_length=100, unique=True)
    token = CharField(max_length=200)
    amount_cents = BigIntegerField()
    currency = CharField(max_length=3)
    created_at = DateTimeField(default=utcnow)


class AuditEvent(BaseModel):
    account = ForeignKeyField(Account, backref="audit_events", on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    action = CharField(max_length=50)
    details = JSONField(default=dict)
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("account", "created_at"), False),)


class OutboxMessage(BaseModel):
    """An email, written in the same transaction as the event that causes it (SPEC §3.4) and
    delivered by the worker (``portal/mail/delivery.py``).

    ``key`` names the event (``order-receipt:42``): one event never writes two messages.
    ``message_id`` is chosen when the row is written, and the message is rendered once, at
    its first delivery (``portal/mail/outbox.py``), so every attempt sends the same message.
    States: ``pending`` (waiting for ``next_attempt_at``), ``sending`` (claimed by ``claim``
    until ``claimed_until``), ``sent``, ``failed`` (refused by the server, or out of
    attempts).
    """

    key = CharField(max_length=150, unique=True)
    account = ForeignKeyField(Account, null=True, backref="+", on_delete="CASCADE")
    kind = CharField(max_length=40)
    recipient = CharField(max_length=254)
    locale = CharField(max_length=10)
    subject = CharField(max_length=255)
    text_body = TextField()
    html_body = TextField()
    message_id = CharField(max_length=255, unique=True)
    state = CharField(max_length=10, default="pending", constraints=[
        Check("state in ('pending', 'sending', 'sent', 'failed')")])
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow)
    claim = CharField(max_length=64, null=True)
    claimed_until = DateTimeField(null=True)
    last_error = CharField(max_length=255, null=True)
    delivered_by = CharField(max_length=10, null=True)  # "smtp", or "kept" (development)
    sent_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    # A receipt's invoice, attached as a PDF in the message's language when it is sent.
    invoice = ForeignKeyField(Invoice, null=True, backref="+", on_delete="SET NULL")
    # The templates' values (JSON: records by id, dates, text), written with the event; the
    # subject and bodies stay empty until the first delivery renders and stores them.
    context = TextField(null=True)

    class Meta:
        table_name = "outbox_message"
        indexes = ((("state", "next_attempt_at"), False),)


ALL_MODELS = [
    Account, User, LoginLock, MemberInvitation, RateLimitCounter, Product, Plan,
    CatalogVersion, Subscription, LicenseAssignment, CartItem, PaymentMethod, Order, OrderLine,
    Invoice, Renewal, PaymentAttempt, LedgerEntry, AuditEvent, OrderReservation, SandboxToken,
    SandboxCharge, OutboxMessage,
]


#: The audit INSERT, built once: every event of every transaction writes one.
_insert_audit_event = PreparedInsert(AuditEvent)

#: The INSERTs an order and a renewal both write, built once (``PreparedInsert.create``
#: takes what ``Model.create`` takes).
new_order = PreparedInsert(Order)
new_order_line = PreparedInsert(OrderLine)
new_payment_attempt = PreparedInsert(PaymentAttempt)
new_ledger_entry = PreparedInsert(LedgerEntry)


def audit(account, user, action, **details):
    """Record who did what; called inside the transaction that did it (on PostgreSQL the
    row travels with the transaction's next statement: ``PreparedInsert.add``)."""
    _insert_audit_event.add(account=account, user=user, action=action, details=details)


def ledger_sum(account_id):
    """The credit balance as the ledger says it is (the truth the cache must equal)."""
    return (LedgerEntry.select(fn.COALESCE(fn.SUM(LedgerEntry.amount_cents), 0))
            .where(LedgerEntry.account == account_id).scalar())
