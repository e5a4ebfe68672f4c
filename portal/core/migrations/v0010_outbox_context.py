"""Version 10: emails rendered when they are first sent, not in the event's transaction.

``outbox_message.context`` (nullable): the values the message's templates need (records by
id, dates, text), written with the event. The subject and bodies of such a row are empty
until its first delivery renders and stores them; later attempts send what was stored.
Existing rows are rendered already and have no context.
"""
from peewee import TextField
from playhouse.migrate import migrate

description = "outbox messages rendered at their first delivery"


def upgrade(db, migrator):
    """Add the nullable column."""
    migrate(migrator.add_column("outbox_message", "context", TextField(null=True)))
