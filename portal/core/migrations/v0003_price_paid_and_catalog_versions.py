"""Version 3: the price each subscription's period was billed at, catalog versions, retired
plans, and 64-bit money.

- ``subscription.price_cents`` (net cents per license per period) and ``currency``: the
  credit for unused time is computed from what was paid, never from today's catalog. For
  existing active subscriptions it is filled from the catalog in force when this migration
  runs, which is what they were billed at as long as the catalog did not change since (the
  README's upgrade notes say so). Trials stay NULL: they were not paid for.
- ``catalog_version``: one row per ``flask catalog load`` that changed something; a database
  that already holds plans starts at version 1.
- ``plan.retired``: a plan no longer sold, kept for the subscriptions on it.
- On PostgreSQL every money column becomes BIGINT (SQLite's INTEGER is 64-bit already):
  10,000 Pro annual licenses exceed 2^31 cents.
"""
import datetime as dt

from peewee import DateTimeField, IntegerField, Model, PostgresqlDatabase, TextField

description = "price paid on subscriptions, catalog versions, retired plans, 64-bit money"

#: (table, column) of every amount of money, to widen on PostgreSQL.
MONEY_COLUMNS = (
    ("account", "balance_cents"), ("plan", "monthly_cents"), ("plan", "annual_cents"),
    ("order", "subtotal_cents"), ("order", "vat_cents"), ("order", "total_cents"),
    ("order", "applied_cents"), ("order", "due_cents"), ("order", "credit_added_cents"),
    ("order_line", "unit_price_cents"), ("order_line", "credit_cents"),
    ("order_line", "charge_cents"), ("payment_attempt", "amount_cents"),
    ("ledger_entry", "amount_cents"),
)


class CatalogVersion(Model):
    """The table as version 3 creates it (frozen)."""

    version = IntegerField(primary_key=True)
    loaded_at = DateTimeField()
    changes = TextField()

    class Meta:
        legacy_table_names = False


def upgrade(db, migrator):
    """Add the columns and the table, fill the price paid, widen money on PostgreSQL."""
    engine = getattr(db, "obj", db)  # the portal's DatabaseProxy, or a database
    postgres = isinstance(engine, PostgresqlDatabase)
    money = "BIGINT" if postgres else "INTEGER"
    db.execute_sql(f'ALTER TABLE "subscription" ADD COLUMN "price_cents" {money} '
                   'CHECK (price_cents >= 0)')
    db.execute_sql('ALTER TABLE "subscription" ADD COLUMN "currency" VARCHAR(3) NOT NULL '
                   "DEFAULT 'EUR'")
    boolean = "BOOLEAN" if postgres else "INTEGER"  # peewee's BooleanField on each engine
    db.execute_sql(f'ALTER TABLE "plan" ADD COLUMN "retired" {boolean} NOT NULL DEFAULT FALSE')
    with db.bind_ctx([CatalogVersion]):
        db.create_tables([CatalogVersion])
        if db.execute_sql('SELECT 1 FROM "plan" LIMIT 1').fetchone():
            CatalogVersion.create(version=1, loaded_at=dt.datetime.now(dt.timezone.utc)
                                  .replace(tzinfo=None), changes="[]")
    db.execute_sql(
        'UPDATE "subscription" SET "price_cents" = (SELECT CASE WHEN "subscription"."frequency" '
        "= 'annual' THEN \"plan\".\"annual_cents\" ELSE \"plan\".\"monthly_cents\" END "
        'FROM "plan" WHERE "plan"."id" = "subscription"."plan_id") '
        "WHERE \"status\" = 'active'")
    if postgres:
        for table, column in MONEY_COLUMNS:
            db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE BIGINT')
