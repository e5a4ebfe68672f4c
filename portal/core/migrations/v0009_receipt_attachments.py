"""Version 9: the invoice a receipt email carries as a PDF attachment.

``outbox_message.invoice_id`` (nullable): the invoice the delivery attaches, rendered in
the message's language when it is sent. Existing rows have none.
"""
from peewee import ForeignKeyField, Model
from playhouse.migrate import migrate

description = "invoice attached to receipt emails"


class Invoice(Model):
    """Only what the foreign key needs (frozen)."""

    class Meta:
        table_name = "invoice"
        legacy_table_names = False


def upgrade(db, migrator):
    """Add the nullable column."""
    field = ForeignKeyField(Invoice, null=True, on_delete="SET NULL", field=Invoice.id)
    migrate(migrator.add_column("outbox_message", "invoice_id", field))
