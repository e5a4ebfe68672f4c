"""Version 4: the subscription lifecycle — renewals, dunning, auto-renew, default cards.

- ``subscription.status`` may also be ``past_due``, ``suspended`` and ``expired`` (the CHECK
  constraint changes: SQLite rebuilds the table, the documented twelve-step way, with foreign
  keys off as the runner sets them; PostgreSQL replaces the constraint);
- ``subscription.auto_renew`` (on for every existing subscription);
- ``payment_method.is_default``: each account's newest card becomes its default;
- the ``renewal`` table: one row per subscription and period.
"""
from peewee import (BigIntegerField, CharField, Check, DateField, DateTimeField,
                    ForeignKeyField, IntegerField, Model, PostgresqlDatabase)

description = "renewals, dunning states, auto-renew and default cards"

OLD_CHECK = "status in ('trialing', 'active', 'trial_expired', 'canceled')"
NEW_CHECK = ("status in ('trialing', 'active', 'past_due', 'suspended', 'trial_expired', "
             "'expired', 'canceled')")


class Frozen(Model):
    class Meta:
        legacy_table_names = False


class Subscription(Frozen):
    class Meta:
        table_name = "subscription"


class Plan(Frozen):
    class Meta:
        table_name = "plan"


class PaymentMethod(Frozen):
    class Meta:
        table_name = "payment_method"


class Order(Frozen):
    class Meta:
        table_name = "order"


class Renewal(Frozen):
    subscription = ForeignKeyField(Subscription, on_delete="CASCADE")
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
    applied_cents = BigIntegerField()
    due_cents = BigIntegerField()
    attempts = IntegerField()
    charge_key = CharField(max_length=80, null=True)
    payment_method = ForeignKeyField(PaymentMethod, null=True, on_delete="SET NULL")
    payment_reference = CharField(max_length=100, null=True)
    error_code = CharField(max_length=50, null=True)
    next_retry_on = DateField(null=True)
    order = ForeignKeyField(Order, null=True, on_delete="SET NULL")
    created_at = DateTimeField()
    updated_at = DateTimeField()

    class Meta:
        table_name = "renewal"
        indexes = ((("subscription", "period_start"), True),)


def _rebuild_sqlite_subscription(db):
    """Replace the status CHECK: new table from the old one's SQL, copy, drop, rename."""
    (sql,) = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                            "name = 'subscription'").fetchone()
    if OLD_CHECK not in sql:
        raise RuntimeError("unexpected subscription table: " + sql)
    indexes = [row[0] for row in db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'subscription' "
        "AND sql IS NOT NULL").fetchall()]
    new_sql = sql.replace(OLD_CHECK, NEW_CHECK).replace(
        'CREATE TABLE "subscription"', 'CREATE TABLE "subscription_new"', 1)
    if new_sql == sql.replace(OLD_CHECK, NEW_CHECK):
        raise RuntimeError("unexpected subscription table name: " + sql)
    columns = ", ".join(f'"{c.name}"' for c in db.get_columns("subscription"))
    db.execute_sql(new_sql)
    db.execute_sql(f'INSERT INTO "subscription_new" ({columns}) SELECT {columns} '
                   'FROM "subscription"')
    db.execute_sql('DROP TABLE "subscription"')
    db.execute_sql('ALTER TABLE "subscription_new" RENAME TO "subscription"')
    for index in indexes:
        db.execute_sql(index)


def upgrade(db, migrator):
    """Widen the status, add auto_renew, default cards and the renewal table."""
    engine = getattr(db, "obj", db)  # the portal's DatabaseProxy, or a database
    postgres = isinstance(engine, PostgresqlDatabase)
    boolean = "BOOLEAN" if postgres else "INTEGER"  # peewee's BooleanField on each engine
    if postgres:
        (name,) = db.execute_sql(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'subscription'::regclass "
            "AND contype = 'c' AND position('trial_expired' in pg_get_constraintdef(oid)) > 0").fetchone()
        db.execute_sql(f'ALTER TABLE "subscription" DROP CONSTRAINT "{name}"')
        db.execute_sql(f'ALTER TABLE "subscription" ADD CHECK ({NEW_CHECK})')
    else:
        _rebuild_sqlite_subscription(db)
    db.execute_sql(f'ALTER TABLE "subscription" ADD COLUMN "auto_renew" {boolean} NOT NULL '
                   'DEFAULT TRUE')
    db.execute_sql(f'ALTER TABLE "payment_method" ADD COLUMN "is_default" {boolean} NOT NULL '
                   'DEFAULT FALSE')
    db.execute_sql('UPDATE "payment_method" SET "is_default" = TRUE WHERE "id" IN '
                   '(SELECT MAX("id") FROM "payment_method" GROUP BY "account_id")')
    with db.bind_ctx([Renewal]):
        db.create_tables([Renewal])
