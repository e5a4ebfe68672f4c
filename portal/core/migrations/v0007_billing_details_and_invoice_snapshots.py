"""Version 7: billing details on accounts and immutable invoices.

- ``account``: the structured address, codice fiscale, SdI code, PEC and the VIES answer
  (all nullable: existing accounts complete them on "Dati di fatturazione");
- ``invoice.kind`` (``invoice`` for every existing row) and ``invoice.snapshot``, what the
  invoice says as issued. Existing invoices keep no snapshot: they are shown from their
  order's rows, as before.
"""
from peewee import CharField, DateTimeField, TextField
from playhouse.migrate import migrate

description = "billing details and invoice snapshots"

ACCOUNT_COLUMNS = [
    ("street", CharField(max_length=60, null=True)),
    ("postal_code", CharField(max_length=10, null=True)),
    ("city", CharField(max_length=60, null=True)),
    ("province", CharField(max_length=2, null=True)),
    ("codice_fiscale", CharField(max_length=16, null=True)),
    ("sdi_code", CharField(max_length=7, null=True)),
    ("pec", CharField(max_length=254, null=True)),
    ("vies_status", CharField(max_length=10, null=True)),
    ("vies_name", CharField(max_length=200, null=True)),
    ("vies_checked_at", DateTimeField(null=True)),
]


def upgrade(db, migrator):
    """Add the nullable account columns, ``invoice.kind`` and ``invoice.snapshot``."""
    migrate(*[migrator.add_column("account", name, field) for name, field in ACCOUNT_COLUMNS])
    # A plain ADD COLUMN with its default (see version 2: no table rebuild on SQLite).
    db.execute_sql('ALTER TABLE "invoice" ADD COLUMN "kind" VARCHAR(12) NOT NULL '
                   "DEFAULT 'invoice'")
    migrate(migrator.add_column("invoice", "snapshot", TextField(null=True)))
