"""Orders per second with a slow payment gateway: the write lock is never held while it answers.

Seeds ``bench/bench.sqlite3`` (bench/seed.py), starts gunicorn with the README's production
settings (bench/run.py) and a sandbox that takes ``--latency`` ms (300 by default) per charge,
then lets ``--buyers`` billing contacts (20) place orders at once for ``--duration`` seconds:
add to cart, review, place the order (bench/run.py ``OrderLoad``, a double submit every 5th
order). Prints orders per second, the order POST's latency and the errors, then checks the
database (versions, keys, ledger = balance, one invoice per order).

Target (issue 16): at 300 ms and 20 buyers on SQLite, at least 20 orders/s with no error;
placing the order inside the write transaction managed about 3/s.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as bench  # noqa: E402  (bench/run.py: seed, gunicorn, clients, load, checks)

TARGET_ORDERS_PER_S = 20


def main():
    """Seed, serve with a slow sandbox, place orders from many buyers, check, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=int, default=300, help="sandbox ms per charge")
    parser.add_argument("--buyers", type=int, default=20)
    parser.add_argument("--duration", type=int, default=20)
    args = parser.parse_args()

    bench.log("seeding bench/bench.sqlite3")
    ids = bench.bench_seed.seed(bench.DB_PATH)
    if len(ids["order_emails"]) < args.buyers:
        bench.fail(f"the seed has {len(ids['order_emails'])} buying accounts")
    os.environ["SANDBOX_LATENCY_MS"] = str(args.latency)  # production_env copies it
    port = bench.free_port()
    server = bench.start_gunicorn(port)
    try:
        buyers = []
        for email, sub in list(zip(ids["order_emails"], ids["order_subscriptions"]))[
                :args.buyers]:
            client = bench.Client(port)
            client.login(email, ids["password"])
            client.request("GET", f"/subscriptions/{sub}/change")  # CSRF token
            client.licenses = 20
            buyers.append((client, sub))
        bench.log(f"{args.buyers} buyers, sandbox latency {args.latency} ms, "
                  f"{args.duration} s")
        result = bench.OrderLoad(port, ids, args.duration).run(buyers)
    finally:
        bench.stop_gunicorn(server)
    problems = bench.check_invariants(result["orders"])
    orders_per_s = result["orders"] / args.duration
    print(f"orders placed      {result['orders']} in {args.duration} s "
          f"= {orders_per_s:.1f} orders/s (target >= {TARGET_ORDERS_PER_S})")
    print(f"order POST latency p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms")
    print(f"errors             {result['errors']} {result['error_samples']}")
    print(f"invariants         {'hold' if not problems else problems}")
    if problems or result["errors"] or orders_per_s < TARGET_ORDERS_PER_S:
        sys.exit(1)


if __name__ == "__main__":
    main()
