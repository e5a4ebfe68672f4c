"""Version 8: the email outbox (issue 17).

``outbox_message``: every email the portal sends, written in the transaction of the event
that causes it (an order, a renewal, a failed payment, a suspension) and delivered by the
worker; one row per event (``key`` is unique), with the Message-ID every attempt reuses.
"""
from peewee import Check, CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField

description = "email outbox"


class Version7Model(Model):
    class Meta:
        legacy_table_names = False


class Account(Version7Model):
    """Only what the foreign key needs (frozen)."""

    class Meta:
        table_name = "account"


class OutboxMessage(Version7Model):
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
    next_attempt_at = DateTimeField()
    claim = CharField(max_length=64, null=True)
    claimed_until = DateTimeField(null=True)
    last_error = CharField(max_length=255, null=True)
    delivered_by = CharField(max_length=10, null=True)
    sent_at = DateTimeField(null=True)
    created_at = DateTimeField()

    class Meta:
        table_name = "outbox_message"
        indexes = ((("state", "next_attempt_at"), False),)


def upgrade(db, migrator):
    """Create the table."""
    with db.bind_ctx([OutboxMessage, Account]):
        db.create_tables([OutboxMessage])
