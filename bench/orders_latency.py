"""Orders per second with a slow payment gateway: the write lock is never held while it answers.

    .venv/bin/python bench/orders_latency.py [--engine sqlite|postgresql] [--duration 20]

Seeds the engine's benchmark database (bench/seed.py; PostgreSQL: a throw-away cluster,
bench/pg.py), starts gunicorn with the production settings (bench/run.py ``GUNICORN``) and a
sandbox that takes ``--latency`` ms (300 by default) per charge, then lets ``--buyers`` billing
contacts (20) place orders at once: add to cart, review, place the order (bench/run.py
``OrderLoad``: every order an increase charged to the card, a double submit every 5th order).
Prints orders per second, the order POST's latency and the errors, then checks the database
(versions, keys, ledger = balance, one invoice per order). ``make bench`` runs the same load
on both engines (bench/run.py); this script is the quick look at one of them.

Targets (issue 21): at 300 ms and 20 buyers, at least 20 orders/s on SQLite and 40 on
PostgreSQL, with no error.
"""
import argparse
import contextlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as bench  # noqa: E402  (bench/run.py: seed, gunicorn, clients, load, checks)


def main():
    """Seed, serve with a slow sandbox, place orders from many buyers, check, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--latency", type=int, default=bench.LATENCY_MS,
                        help="sandbox ms per charge")
    parser.add_argument("--buyers", type=int, default=bench.LATENCY_BUYERS)
    parser.add_argument("--duration", type=int, default=20, help="s per run")
    parser.add_argument("--runs", type=int, default=1, help="runs (medians, as make bench)")
    parser.add_argument("--gunicorn", help="other gunicorn settings, e.g. '--workers 4 "
                        "--threads 8' (default: bench/run.py GUNICORN)")
    args = parser.parse_args()
    settings = args.gunicorn.split() if args.gunicorn else bench.GUNICORN[args.engine]
    bench.LATENCY_MS, bench.LATENCY_BUYERS = args.latency, args.buyers
    args.latency_duration = args.duration
    with contextlib.ExitStack() as stack:
        if args.engine == "postgresql":
            import pg
            url = stack.enter_context(pg.cluster())
            ids = bench.bench_seed.seed(url)
        else:
            url = f"sqlite:///{bench.DB_PATH}"
            ids = bench.bench_seed.seed(bench.DB_PATH)
        if len(ids["order_emails"]) < args.buyers:
            bench.fail(f"the seed has {len(ids['order_emails'])} buying accounts")
        result = bench.latency_phase(url, ids, args, settings, args.engine)
        order_ids = result.pop("order_ids")
        problems = bench.check_invariants(url, len(order_ids))
        total, paid = bench.charged(url, order_ids)
    target = bench.TARGETS["latency_orders_per_s"][args.engine]
    print(f"orders placed      {result['orders']} in {result['seconds']:.0f} s, median "
          f"= {result['orders_per_s']:.1f} orders/s (target >= {target}); {paid} of {total} "
          "charged to the card")
    print(f"order POST latency p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms")
    print(f"server CPU         {result['cpu_ms_per_order']:.1f} ms per order "
          f"(add, review, order, {result['polls_per_order']:.1f} polls of its page)")
    print(f"errors             {result['errors']} {result['error_samples']}")
    print(f"invariants         {'hold' if not problems else problems}")
    if problems or result["errors"] or result["orders_per_s"] < target:
        sys.exit(1)


if __name__ == "__main__":
    main()
