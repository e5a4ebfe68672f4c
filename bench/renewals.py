"""Renewals at scale: ``flask billing run`` over 10,000 due subscriptions, exactly once each.

    .venv/bin/python bench/renewals.py                  # SQLite, 10,000 subscriptions
    .venv/bin/python bench/renewals.py --postgres       # a throw-away PostgreSQL cluster too
    .venv/bin/python bench/renewals.py --only-postgres  # PostgreSQL alone
    .venv/bin/python bench/renewals.py --count 2000 --json bench/renewals.json

Seeds a fresh database (bulk inserts) with ``--count`` self-service subscriptions whose period
ends on the bench day (2026-12-01): half as many accounts, each with a Webinar and a Meeting
subscription (monthly, every fourth account annual), a billing contact, a saved sandbox card
(the default) and, for every third account, a credit balance with its opening ledger entry.
Then runs ``flask --app portal billing run --today 2026-12-01`` as a subprocess, as an
operator would, and times it. Then checks what it did:

- one completed ``Renewal`` per subscription for the period starting on the bench day;
- exactly one sandbox charge and one succeeded ``PaymentAttempt`` per renewal that was due
  money, under the renewal's charge key, for its amount, and no other charge;
- one order with one line, and one invoice, per subscription; the year's invoice numbers are
  1..n without gaps or duplicates;
- every account's ledger sum equals its cached balance, which is never negative;
- each subscription moved to its next period (version 2); one renewal receipt in the outbox
  per order;
- a second run the same day renews nothing.

Prints one line per engine; ``--json PATH`` writes its figures (engine, subscriptions,
seconds, CPU seconds of the command, charges per second, double charges, invoices, target
met, invariants), as one dict, or ``{"runs": [...]}`` for two engines. Exits 1 when an
invariant fails (``--strict``: also when the time target is missed). Target: 10,000 renewals
in at most 60 s on SQLite (scaled for ``--count``).
"""
import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from dateutil.relativedelta import relativedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DAY = dt.date(2026, 12, 1)
TARGET_SECONDS = 60
DEFAULT_COUNT = 10_000
WEBINAR = ("webinar-lite", "webinar-standard", "webinar-pro")
MEETING = ("meeting-professional", "meeting-business")
PG_BIN = "/usr/lib/postgresql/15/bin"


def log(message):
    """Progress on stderr, so stdout holds the figures."""
    print(f"[renewals] {message}", file=sys.stderr, flush=True)


def _app(url):
    """The portal bound to ``url``, as the bench's seeding and checks use it."""
    from portal import create_app
    return create_app({"SECRET_KEY": "bench-renewals", "DATABASE_URL": url,
                       "FIXED_TODAY": DAY, "PAYMENT_GATEWAY": "sandbox"})


def _insert(model, rows, size=500):
    """Bulk insert ``rows`` (dicts) in slices small enough for SQLite's variable limit."""
    for start in range(0, len(rows), size):
        model.insert_many(rows[start:start + size]).execute()


def seed(url, count):
    """A fresh schema at ``url`` with ``count`` subscriptions due on ``DAY``; returns the
    number of accounts."""
    from werkzeug.security import generate_password_hash

    from portal.catalog.store import invalidate, load_catalog
    from portal.core.db import db, is_sqlite
    from portal.core.migrations import upgrade
    from portal.core.models import (Account, LedgerEntry, PaymentMethod, Plan, Subscription,
                                    User, new_token, utcnow)

    app = _app(url)
    password_hash = generate_password_hash("bench-renewals-password", method="scrypt")
    now = utcnow()
    accounts = (count + 1) // 2
    with app.app_context():
        upgrade()
        invalidate()
        with db.connection_context():
            load_catalog(app.config["CATALOG_PATH"])
            plans = {p.code: p for p in Plan.select()}
            with db.atomic():
                first = (Account.select(Account.id).order_by(Account.id.desc()).scalar() or 0) + 1
                _insert(Account, [{
                    "name": f"Rinnovi {i:05d} S.r.l.", "kind": "self_service", "country": "IT",
                    "vat_number": f"IT{i:011d}", "address": f"Via Rinnovi {i}\n20121 Milano MI",
                    "currency": "EUR", "timezone": "Europe/Rome",
                    "balance_cents": 2500 + i % 7 * 1000 if i % 3 == 0 else 0,
                    "created_at": now} for i in range(1, accounts + 1)])
                ids = [a for (a,) in Account.select(Account.id).where(Account.id >= first)
                       .order_by(Account.id).tuples()]
                balances = dict(Account.select(Account.id, Account.balance_cents)
                                .where(Account.id >= first).tuples())
                _insert(User, [{
                    "email": f"rinnovi{n:05d}@bench.example", "name": f"Rinnovi {n:05d}",
                    "password_hash": password_hash, "account": account_id,
                    "role": "billing_contact", "locale": ("it", "en", "de")[n % 3],
                    "session_token": new_token(), "active": True, "created_at": now}
                    for n, account_id in enumerate(ids, start=1)])
                _insert(PaymentMethod, [{
                    "account": account_id, "gateway": "sandbox",
                    "token": f"sandbox_tok_renewals_{n}", "brand": "visa", "last4": "4242",
                    "exp_month": 12, "exp_year": 2030, "holder": f"Rinnovi {n:05d}",
                    "is_default": True, "created_at": now}
                    for n, account_id in enumerate(ids, start=1)])
                _insert(LedgerEntry, [
                    {"account": account_id, "amount_cents": balance, "kind": "opening",
                     "order": None, "created_at": now}
                    for account_id, balance in balances.items() if balance])
                subscriptions = []
                for n, account_id in enumerate(ids, start=1):
                    frequency = "annual" if n % 4 == 0 else "monthly"
                    length = relativedelta(years=1) if frequency == "annual" else relativedelta(
                        months=1)
                    for code in (WEBINAR[n % 3], MEETING[n % 2]):
                        if len(subscriptions) == count:
                            break
                        plan = plans[code]
                        price = plan.annual_cents if frequency == "annual" else plan.monthly_cents
                        subscriptions.append({
                            "account": account_id, "product": plan.product_id,
                            "plan": plan.id, "licenses": 1 + n % 25, "frequency": frequency,
                            "period_start": DAY - length, "period_end": DAY,
                            "status": "active", "auto_renew": True, "price_cents": price,
                            "version": 1, "updated_at": now})
                _insert(Subscription, subscriptions)
            if is_sqlite():
                db.execute_sql("ANALYZE")
                db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                db.execute_sql("ANALYZE")
    return accounts


def billing_run(url, flask, jobs):
    """``flask --app portal billing run --today DAY`` as an operator runs it: (seconds,
    CPU seconds of the command, output)."""
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY="bench-renewals-" + "x" * 32,
               PAYMENT_GATEWAY="sandbox", FIXED_TODAY=DAY.isoformat(), PYTHONUNBUFFERED="1")
    env.pop("SANDBOX_LATENCY_MS", None)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([flask, "--app", "portal", "billing", "run", "--today",
                           DAY.isoformat(), "--jobs", str(jobs)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"billing run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds, after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, done.stdout


def renewed_count(output):
    """The "renewed: N" figure of the command's summary."""
    for line in output.splitlines():
        if line.startswith("renewed:"):
            return int(line.split(":", 1)[1])
    raise SystemExit(f"no 'renewed:' line in the output:\n{output}")


def check(url, count):
    """The invariants after the run: {figure: value} and a list of problems."""
    from peewee import fn

    from portal.core.db import db
    from portal.core.models import (Account, Invoice, LedgerEntry, Order, OrderLine,
                                    OutboxMessage, PaymentAttempt, Renewal, SandboxCharge,
                                    Subscription)

    problems = []
    app = _app(url)
    with app.app_context(), db.connection_context():
        subscriptions = Subscription.select().count()
        if subscriptions != count:
            problems.append(f"{subscriptions} subscriptions seeded, {count} asked")
        renewals = list(Renewal.select(Renewal.subscription, Renewal.period_start,
                                       Renewal.state, Renewal.charge_key, Renewal.due_cents,
                                       Renewal.order).tuples())
        per_subscription = {}
        for sub_id, start, state, _key, _due, _order in renewals:
            per_subscription[sub_id] = per_subscription.get(sub_id, 0) + 1
            if state != "completed" or start != DAY:
                problems.append(f"renewal of subscription {sub_id}: {state} from {start}")
        missing = count - len(per_subscription)
        twice = sum(1 for n in per_subscription.values() if n > 1)
        if missing or twice:
            problems.append(f"{missing} subscriptions without a renewal, {twice} with several")

        # Charges: exactly one per renewal that was due money, under its key, and no other.
        charges = dict(SandboxCharge.select(SandboxCharge.idempotency_key,
                                            SandboxCharge.amount_cents).tuples())
        attempts = {}
        for key, amount, status in PaymentAttempt.select(
                PaymentAttempt.idempotency_key, PaymentAttempt.amount_cents,
                PaymentAttempt.status).tuples():
            attempts.setdefault(key, []).append((amount, status))
        due = [(key, cents) for _s, _p, _st, key, cents, _o in renewals if cents > 0]
        uncharged = [key for key, cents in due if charges.get(key) != cents]
        charged_keys = {key for key, _cents in due}
        double_charges = len(charges) - len(charged_keys & set(charges))
        bad_attempts = [key for key, cents in due if attempts.get(key) != [(cents, "succeeded")]]
        if uncharged:
            problems.append(f"{len(uncharged)} renewals not charged once for their amount")
        if double_charges:
            problems.append(f"{double_charges} charges beyond one per renewal")
        if bad_attempts or len(attempts) != len(due):
            problems.append(f"{len(bad_attempts)} renewals without exactly one succeeded "
                            f"payment attempt; {len(attempts)} attempt keys for {len(due)}")

        # Orders, lines and invoices: one each per renewal; numbers gapless.
        orders = Order.select().count()
        lines = dict(OrderLine.select(OrderLine.subscription, fn.COUNT(OrderLine.id))
                     .group_by(OrderLine.subscription).tuples())
        if orders != count or len(lines) != count or any(n != 1 for n in lines.values()):
            problems.append(f"{orders} orders and {len(lines)} subscriptions with lines "
                            f"for {count} renewals")
        invoices = list(Invoice.select(Invoice.year, Invoice.sequence, Invoice.number,
                                       Invoice.order).tuples())
        if len(invoices) != count or len({i[3] for i in invoices}) != count:
            problems.append(f"{len(invoices)} invoices for {count} orders")
        if {o for *_x, o in renewals} != {i[3] for i in invoices}:
            problems.append("the renewals' orders are not the invoiced orders")
        by_year = {}
        for year, sequence, number, _order in invoices:
            by_year.setdefault(year, []).append(sequence)
            if number != f"{year}/{sequence:06d}":
                problems.append(f"invoice number {number} for {year}/{sequence}")
        for year, sequences in by_year.items():
            if sorted(sequences) != list(range(1, len(sequences) + 1)):
                problems.append(f"invoice numbers of {year} are not 1..{len(sequences)}")

        # Ledger = cached balance, never negative.
        ledger = dict(LedgerEntry.select(LedgerEntry.account, fn.SUM(LedgerEntry.amount_cents))
                      .group_by(LedgerEntry.account).tuples())
        wrong = [(a, b) for a, b in Account.select(Account.id, Account.balance_cents).tuples()
                 if b < 0 or (ledger.get(a) or 0) != b]
        if wrong:
            problems.append(f"{len(wrong)} accounts whose ledger is not their balance: "
                            f"{wrong[:5]}")

        moved = (Subscription.select().where((Subscription.period_start == DAY)
                                             & (Subscription.version == 2)
                                             & (Subscription.status == "active")).count())
        if moved != count:
            problems.append(f"{moved} of {count} subscriptions moved to their next period")
        receipts = OutboxMessage.select().where(OutboxMessage.kind == "renewal_receipt").count()
        if receipts != count:
            problems.append(f"{receipts} renewal receipts in the outbox for {count} renewals")
    figures = {"invoices": len(invoices), "charges": len(charges),
               "double_charges": double_charges}
    return figures, problems


@contextlib.contextmanager
def sqlite_database():
    """A SQLite file in a temporary directory, removed afterwards."""
    folder = tempfile.mkdtemp(prefix="bench-renewals-")
    try:
        yield f"sqlite:///{folder}/renewals.sqlite3"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _free_port():
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def postgres_database(pg_bin=PG_BIN):
    """A throw-away PostgreSQL cluster on a loopback port (as .ci/run starts one): initdb in
    a temporary directory as the ``postgres`` user when run as root, stopped and removed
    afterwards. Yields its URL."""
    folder = tempfile.mkdtemp(prefix="bench-renewals-pg-")
    port = _free_port()
    as_root = os.geteuid() == 0

    def run(*args):
        command = [os.path.join(pg_bin, args[0]), *args[1:]]
        if as_root:
            command = ["su", "postgres", "-c", " ".join(_quote(part) for part in command)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    try:
        if as_root:
            shutil.chown(folder, "postgres")
        run("initdb", "-D", folder, "-A", "trust", "-U", "postgres")
        run("pg_ctl", "-D", folder, "-w", "-l", os.path.join(folder, "log"), "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            run("pg_ctl", "-D", folder, "-m", "immediate", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _quote(text):
    """``text`` as one word of a shell command."""
    return shlex.quote(text)


def cpu_model():
    """The processor's name, as /proc/cpuinfo gives it (Linux), else the machine type."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench(engine, url, count, flask, jobs):
    """Seed, run, check one engine; its figures."""
    log(f"{engine}: seeding {count} subscriptions due on {DAY}")
    started = time.monotonic()
    seed(url, count)
    log(f"{engine}: seeded in {time.monotonic() - started:.1f} s; flask billing run")
    load = os.getloadavg()[0]
    seconds, cpu, output = billing_run(url, flask, jobs)
    renewed = renewed_count(output)
    log(f"{engine}: {renewed} renewed in {seconds:.1f} s; a second run")
    _again, _cpu, output_again = billing_run(url, flask, jobs)
    figures, problems = check(url, count)
    if renewed != count:
        problems.append(f"the run reported {renewed} renewals for {count}")
    if renewed_count(output_again):
        problems.append(f"a second run renewed {renewed_count(output_again)} more")
    return {
        "engine": engine, "subscriptions": count, "jobs": jobs, "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2), "load_average_before": round(load, 2),
        "charges_per_second": round(figures["charges"] / seconds, 1) if seconds else None,
        "renewals_per_second": round(renewed / seconds, 1) if seconds else None,
        "double_charges": figures["double_charges"], "invoices": figures["invoices"],
        "charges": figures["charges"],
        "target_seconds": TARGET_SECONDS * count / DEFAULT_COUNT,
        "target_met": seconds <= TARGET_SECONDS * count / DEFAULT_COUNT,
        "invariants_hold": not problems, "problems": problems[:20],
    }


def main():
    """Run the bench on SQLite (and PostgreSQL with ``--postgres``), print, exit 1 on a
    broken invariant."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT,
                        help="due subscriptions to seed (default 10,000)")
    parser.add_argument("--json", metavar="PATH", help="write the figures to PATH")
    parser.add_argument("--postgres", action="store_true",
                        help=f"also on a throw-away PostgreSQL cluster ({PG_BIN})")
    parser.add_argument("--only-postgres", action="store_true",
                        help="on PostgreSQL only")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="processes of billing run (BILLING_JOBS; default: the CPUs)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when the time target is missed, too")
    args = parser.parse_args()
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    results = []
    if not args.only_postgres:
        with sqlite_database() as url:
            results.append(bench("sqlite", url, args.count, flask, args.jobs))
    if args.postgres or args.only_postgres:
        if not os.path.exists(os.path.join(PG_BIN, "initdb")):
            log(f"no PostgreSQL in {PG_BIN}: skipped")
        else:
            with postgres_database() as url:
                results.append(bench("postgresql", url, args.count, flask, args.jobs))
    for r in results:
        print(f"{r['engine']:<11} {r['subscriptions']} renewals in {r['seconds']:.1f} s "
              f"({r['cpu_seconds']:.1f} s CPU of the command, load {r['load_average_before']}) = "
              f"{r['charges_per_second']:.0f} charges/s (target <= {r['target_seconds']:.0f} s: "
              f"{'met' if r['target_met'] else 'missed'}); double charges "
              f"{r['double_charges']}, invoices {r['invoices']}; invariants "
              f"{'hold' if r['invariants_hold'] else 'BROKEN: ' + '; '.join(r['problems'])}")
    if args.json:
        figures = results[0] if len(results) == 1 else {"runs": results}
        figures = dict(figures, machine=f"{cpu_model()}, {os.cpu_count()} CPUs, "
                       f"Python {platform.python_version()}",
                       when=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)
    broken = any(not r["invariants_hold"] for r in results)
    missed = any(not r["target_met"] for r in results)
    sys.exit(1 if broken or (args.strict and missed) else 0)


if __name__ == "__main__":
    main()
