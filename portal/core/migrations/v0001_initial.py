"""Version 1: the portal's first schema, frozen.

These classes are a copy of the models as they were at version 1, not an import of
``portal.core.models``: a later change to the models must not change what this migration
creates. They carry only what shapes the DDL (types, lengths, nullability, uniqueness,
indexes, CHECK constraints, foreign keys and their ``on_delete``); the application's defaults
and behaviour live in the real models. Never edit this file: add a migration instead.
"""
from peewee import (
    BooleanField,
    CharField,
    Check,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

description = "initial schema"


class Version1Model(Model):
    class Meta:
        # snake_case names, for the tables and for the indexes peewee names after them
        legacy_table_names = False


class Account(Version1Model):
    name = CharField(max_length=200)
    kind = CharField(max_length=20, constraints=[Check("kind in ('self_service', 'corporate')")])
    country = CharField(max_length=2)
    vat_number = CharField(max_length=20, null=True)
    address = TextField()
    currency = CharField(max_length=3)
    timezone = CharField(max_length=64)
    balance_cents = IntegerField(constraints=[Check("balance_cents >= 0")])
    created_at = DateTimeField()

    class Meta:
        table_name = "account"


class User(Version1Model):
    email = CharField(max_length=254, unique=True)
    name = CharField(max_length=200)
    password_hash = CharField(max_length=255)
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    role = CharField(max_length=20,
                     constraints=[Check("role in ('billing_contact', 'member')")])
    locale = CharField(max_length=10, null=True)
    session_token = CharField(max_length=64, unique=True)
    active = BooleanField()
    created_at = DateTimeField()

    class Meta:
        table_name = "user"
        indexes = ((("account", "name"), False),)


class Product(Version1Model):
    code = CharField(max_length=50, unique=True)
    name = CharField(max_length=100)
    position = IntegerField()

    class Meta:
        table_name = "product"


class Plan(Version1Model):
    code = CharField(max_length=50, unique=True)
    product = ForeignKeyField(Product, backref="+", on_delete="CASCADE")
    name = CharField(max_length=100)
    tier = IntegerField()
    monthly_cents = IntegerField(null=True, constraints=[Check("monthly_cents >= 0")])
    annual_cents = IntegerField(null=True, constraints=[Check("annual_cents >= 0")])
    features = TextField()  # JSON
    self_service = BooleanField()

    class Meta:
        table_name = "plan"
        indexes = ((("product", "tier"), True),)


class Subscription(Version1Model):
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    product = ForeignKeyField(Product, backref="+", on_delete="RESTRICT")
    plan = ForeignKeyField(Plan, backref="+", on_delete="RESTRICT")
    licenses = IntegerField(constraints=[Check("licenses >= 1")])
    frequency = CharField(max_length=10, constraints=[Check("frequency in ('monthly', 'annual')")])
    period_start = DateField(null=True)
    period_end = DateField(null=True)
    status = CharField(max_length=20, constraints=[
        Check("status in ('trialing', 'active', 'trial_expired', 'canceled')")])
    version = IntegerField()
    updated_at = DateTimeField()

    class Meta:
        table_name = "subscription"
        indexes = ((("account", "product"), True),)


class LicenseAssignment(Version1Model):
    subscription = ForeignKeyField(Subscription, backref="+", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    created_at = DateTimeField()

    class Meta:
        table_name = "license_assignment"
        indexes = ((("subscription", "user"), True),)


class CartItem(Version1Model):
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    subscription = ForeignKeyField(Subscription, backref="+", on_delete="CASCADE")
    plan = ForeignKeyField(Plan, backref="+", on_delete="CASCADE")
    licenses = IntegerField(constraints=[Check("licenses >= 1")])
    frequency = CharField(max_length=10)
    created_at = DateTimeField()

    class Meta:
        table_name = "cart_item"
        indexes = ((("user", "subscription"), True),)


class PaymentMethod(Version1Model):
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    gateway = CharField(max_length=30)
    token = CharField(max_length=200)
    brand = CharField(max_length=30)
    last4 = CharField(max_length=4)
    exp_month = IntegerField()
    exp_year = IntegerField()
    holder = CharField(max_length=200)
    created_at = DateTimeField()

    class Meta:
        table_name = "payment_method"


class Order(Version1Model):
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="+", on_delete="RESTRICT")
    idempotency_key = CharField(max_length=64, unique=True)
    fingerprint = CharField(max_length=64)
    subtotal_cents = IntegerField()
    vat_rate = CharField(max_length=10)
    vat_reason = CharField(max_length=20)
    vat_cents = IntegerField()
    total_cents = IntegerField()
    applied_cents = IntegerField()
    due_cents = IntegerField()
    credit_added_cents = IntegerField()
    payment_method = ForeignKeyField(PaymentMethod, backref="+", null=True, on_delete="SET NULL")
    payment_reference = CharField(max_length=100, null=True)
    created_at = DateTimeField()

    class Meta:
        table_name = "order"


class OrderLine(Version1Model):
    order = ForeignKeyField(Order, backref="+", on_delete="CASCADE")
    subscription = ForeignKeyField(Subscription, backref="+", on_delete="RESTRICT")
    product_name = CharField(max_length=100)
    old_plan = ForeignKeyField(Plan, backref="+", null=True, on_delete="RESTRICT")
    old_licenses = IntegerField()
    old_frequency = CharField(max_length=10, null=True)
    new_plan = ForeignKeyField(Plan, backref="+", on_delete="RESTRICT")
    new_licenses = IntegerField()
    new_frequency = CharField(max_length=10)
    unit_price_cents = IntegerField()
    credit_cents = IntegerField()
    charge_cents = IntegerField()
    unused_days = IntegerField()
    period_days = IntegerField()
    period_start = DateField()
    period_end = DateField()

    class Meta:
        table_name = "order_line"


class Invoice(Version1Model):
    order = ForeignKeyField(Order, backref="+", unique=True, on_delete="RESTRICT")
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    year = IntegerField()
    sequence = IntegerField()
    number = CharField(max_length=20, unique=True)
    issued_on = DateField()
    buyer_name = CharField(max_length=200)
    buyer_address = TextField()
    buyer_country = CharField(max_length=2)
    buyer_vat_number = CharField(max_length=20, null=True)
    created_at = DateTimeField()

    class Meta:
        table_name = "invoice"
        indexes = ((("year", "sequence"), True),)


class PaymentAttempt(Version1Model):
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    idempotency_key = CharField(max_length=64, index=True)
    amount_cents = IntegerField()
    status = CharField(max_length=20)
    error_code = CharField(max_length=50, null=True)
    created_at = DateTimeField()

    class Meta:
        table_name = "payment_attempt"


class LedgerEntry(Version1Model):
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    amount_cents = IntegerField()
    kind = CharField(max_length=30)
    order = ForeignKeyField(Order, backref="+", null=True, on_delete="SET NULL")
    created_at = DateTimeField()

    class Meta:
        table_name = "ledger_entry"


class AuditEvent(Version1Model):
    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="+", null=True, on_delete="SET NULL")
    action = CharField(max_length=50)
    details = TextField()  # JSON
    created_at = DateTimeField(index=True)

    class Meta:
        table_name = "audit_event"
        indexes = ((("account", "created_at"), False),)


#: In dependency order, as ``create_tables`` needs them.
MODELS = [
    Account, User, Product, Plan, Subscription, LicenseAssignment, CartItem, PaymentMethod,
    Order, OrderLine, Invoice, PaymentAttempt, LedgerEntry, AuditEvent,
]


def upgrade(db, migrator):
    """Create the version-1 tables; ``safe`` leaves tables that already exist alone (a
    database created before the portal stamped versions)."""
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS, safe=True)
