"""Which gunicorn settings to run the portal with: worker/thread combinations on this machine.

    .venv/bin/python bench/settings.py [--engines sqlite,postgresql] [--duration 4]
    .venv/bin/python bench/settings.py --only="--workers 2" --only="--workers 3" --append

For each combination (``COMBINATIONS``) and engine: the summary partial under ``wrk`` with
10 connections, right after the bare route (server CPU per request and p99), the order path
with an instant gateway (10 buyers: orders/s, order POST p99) and with a 300 ms gateway (20
buyers: orders/s). Prints one table and writes ``bench/settings.json``; the top-level README's
production section quotes the figures behind the settings ``bench/run.py`` uses (``GUNICORN``).
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as bench  # noqa: E402

#: What makes sense on 2 cores now that orders are charged in the background
#: (``ORDER_CHARGE_THREADS``): a request no longer holds its worker while the gateway answers,
#: so sync workers (one request at a time each, no keep-alive) are back in the running beside
#: gthread workers, whose threads share one GIL per process.
COMBINATIONS = [
    ["--workers", "2"],
    ["--workers", "3"],
    ["--workers", "4"],
    ["--workers", "2", "--threads", "4"],
    ["--workers", "4", "--threads", "8"],
]

class Args:
    """The subset of bench/run.py's options its phases read."""

    def __init__(self, duration, order_duration):
        self.runs, self.duration, self.connections = 2, duration, 10
        self.order_duration, self.latency_duration = order_duration, order_duration


def measure(engine, url, wrk, ids, settings, args):
    """One combination on one engine."""
    port = bench.free_port()
    server = bench.start_gunicorn(port, bench.served_url(url), settings)
    try:
        targets = bench.read_targets(port, ids)
        for name in ("baseline", "summary"):
            bench.run_wrk(wrk, port, *targets[name], duration=1)
        pairs = []
        for _ in range(args.runs):
            base = bench.run_wrk(wrk, port, *targets["baseline"], duration=args.duration,
                                 master=server.pid)
            one = bench.run_wrk(wrk, port, *targets["summary"], duration=args.duration,
                                master=server.pid)
            pairs.append((base, one))
        clients = bench.buyers(port, ids, bench.INSTANT_BUYERS, url)
        orders = bench.OrderLoad(port, args.order_duration, server.pid).run(clients)
    finally:
        bench.stop_gunicorn(server)
    latency = bench.latency_phase(url, ids, args, settings, engine)
    best = min(pairs, key=lambda p: p[1]["p99_ms"])
    return {
        "engine": engine, "gunicorn": " ".join(settings),
        "summary_cpu_ms": min(p[1]["cpu_ms"] for p in pairs),
        "summary_cpu_ratio": max(p[0]["cpu_ms"] / p[1]["cpu_ms"] for p in pairs),
        "summary_p99_ms": best[1]["p99_ms"], "summary_rps": best[1]["rps"],
        "orders_per_s": orders["orders_per_s"], "order_p99_ms": orders["p99_ms"],
        "orders_per_s_300ms": latency["orders_per_s"],
        "errors": orders["errors"] + latency["errors"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--order-duration", type=int, default=8)
    parser.add_argument("--only", action="append", metavar="SETTINGS",
                        help='measure only this combination, e.g. --only="--workers 2" '
                             "(repeatable, in the order given; a repeat measures it again)")
    parser.add_argument("--append", action="store_true",
                        help="add the rows to bench/settings.json instead of replacing it")
    options = parser.parse_args()
    combinations = ([only.split() for only in options.only] if options.only
                    else COMBINATIONS)
    args = Args(options.duration, options.order_duration)
    wrk = bench.ensure_wrk()
    rows = []
    for engine in options.engines.split(","):
        if engine == "sqlite":
            for settings in combinations:
                ids = bench.bench_seed.seed(bench.DB_PATH)
                rows.append(measure(engine, f"sqlite:///{bench.DB_PATH}", wrk, ids, settings,
                                    args))
                print(rows[-1], flush=True)
        else:
            import pg
            for settings in combinations:
                with pg.cluster() as url:
                    ids = bench.bench_seed.seed(url)
                    rows.append(measure(engine, url, wrk, ids, settings, args))
                    print(rows[-1], flush=True)
    print(f"\n{'engine':10} {'gunicorn':32} {'sum CPU':>8} {'ratio':>6} {'sum p99':>8} "
          f"{'orders/s':>9} {'ord p99':>8} {'300ms o/s':>9} {'errors':>6}")
    for r in rows:
        print(f"{r['engine']:10} {r['gunicorn']:32} {r['summary_cpu_ms']:8.2f} "
              f"{r['summary_cpu_ratio']:6.3f} {r['summary_p99_ms']:8.1f} "
              f"{r['orders_per_s']:9.1f} {r['order_p99_ms']:8.0f} {r['orders_per_s_300ms']:9.1f} "
              f"{r['errors']:6d}")
    path = os.path.join(HERE, "settings.json")
    if options.append and os.path.exists(path):
        with open(path) as fh:
            rows = json.load(fh)["rows"] + rows
    with open(path, "w") as fh:
        json.dump({"machine": bench.machine(), "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
