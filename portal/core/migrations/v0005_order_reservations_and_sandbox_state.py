"""Version 5: orders placed in steps around the charge, and the sandbox gateway's state.

- ``order_reservation``: an order between its steps (reserved, charged outside any
  transaction, completed or undone); reconciliation finishes the ones a crash or a timeout
  left behind (portal/checkout/orders.py).
- ``sandbox_token`` and ``sandbox_charge``: the sandbox gateway's saved cards and charges,
  kept in the database so that every gunicorn worker knows them (they were process memory).

New tables only: no existing row changes.
"""
import datetime as dt

from peewee import (BigIntegerField, BooleanField, CharField, Check, DateTimeField,
                    ForeignKeyField, Model, TextField)

description = "order reservations; sandbox gateway tokens and charges"


def _now():
    """Naive UTC, as the models write it."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Frozen(Model):
    class Meta:
        legacy_table_names = False


class Account(Frozen):
    """Only the primary key, for the foreign key (the table exists)."""


class User(Frozen):
    """Only the primary key, for the foreign key (the table exists)."""


class PaymentMethod(Frozen):
    """Only the primary key, for the foreign key (the table exists)."""


class Order(Frozen):
    """Only the primary key, for the foreign key (the table exists)."""


class OrderReservation(Frozen):
    idempotency_key = CharField(max_length=64, unique=True)
    account = ForeignKeyField(Account, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    fingerprint = CharField(max_length=64)
    state = CharField(max_length=20, constraints=[Check(
        "state in ('reserved', 'unconfirmed', 'completed', 'failed', 'released', "
        "'refund_due')")])
    quote = TextField()
    due_cents = BigIntegerField(constraints=[Check("due_cents >= 0")])
    applied_cents = BigIntegerField(constraints=[Check("applied_cents >= 0")])
    currency = CharField(max_length=3)
    payment_method = ForeignKeyField(PaymentMethod, null=True, on_delete="SET NULL")
    new_card = TextField(null=True)
    charge_reference = CharField(max_length=100, null=True)
    error_code = CharField(max_length=50, null=True)
    gateway_failed = BooleanField(default=False)
    order = ForeignKeyField(Order, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=_now)
    updated_at = DateTimeField(default=_now)

    class Meta:
        indexes = ((("state", "updated_at"), False),)


class SandboxToken(Frozen):
    token = CharField(max_length=200, primary_key=True)
    outcome = CharField(max_length=10)
    code = CharField(max_length=50, null=True)
    created_at = DateTimeField(default=_now)


class SandboxCharge(Frozen):
    idempotency_key = CharField(max_length=64, primary_key=True)
    charge_id = CharField(max_length=100, unique=True)
    token = CharField(max_length=200)
    amount_cents = BigIntegerField()
    currency = CharField(max_length=3)
    created_at = DateTimeField(default=_now)


NEW_TABLES = [OrderReservation, SandboxToken, SandboxCharge]


def upgrade(db, migrator):
    """Create the three tables."""
    with db.bind_ctx([Account, User, PaymentMethod, Order] + NEW_TABLES):
        db.create_tables(NEW_TABLES)
