"""What an order costs PostgreSQL: ``pg_stat_statements`` during the 300 ms order load.

    .venv/bin/python bench/pg_statements.py [--duration 20] [--top 30]

Starts a throw-away cluster (bench/pg.py) with ``pg_stat_statements`` loaded, seeds it
(bench/seed.py), runs the order load of ``make bench``'s 300 ms leg (bench/run.py
``latency_phase``: 20 buyers, add to cart, review, order, its page's polls) and prints,
per order placed: the statements the server ran (PREPAREd ones under their text), their
planning and execution time, and the costliest statements. A lock's wait counts as
execution time (``LOCK TABLE invoice``: the gapless invoice numbers).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg  # noqa: E402
import run as bench  # noqa: E402


def main():
    """Serve, load, read ``pg_stat_statements``, print per order."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    pg.SETTINGS += (" -c shared_preload_libraries=pg_stat_statements"
                    " -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on")
    import psycopg2
    with pg.cluster() as url:
        ids = bench.bench_seed.seed(url)
        connection = psycopg2.connect(url)
        connection.autocommit = True
        cursor = connection.cursor()
        cursor.execute("CREATE EXTENSION pg_stat_statements")
        cursor.execute("SELECT pg_stat_statements_reset()")
        load = argparse.Namespace(latency_duration=args.duration)
        result = bench.latency_phase(url, ids, load, bench.GUNICORN["postgresql"],
                                     "postgresql")
        orders = max(1, len(result["order_ids"]))
        cursor.execute("SELECT sum(calls), sum(total_plan_time), sum(total_exec_time) "
                       "FROM pg_stat_statements")
        calls, plan, execution = (float(value or 0) for value in cursor.fetchone())
        print(f"{result['orders_per_s']:.1f} orders/s; per order: {calls / orders:.1f} "
              f"statements, planning {plan / orders:.2f} ms, execution "
              f"{execution / orders:.2f} ms")
        cursor.execute(
            "SELECT calls, total_plan_time, total_exec_time, "
            "left(regexp_replace(query, '\\s+', ' ', 'g'), 110) FROM pg_stat_statements "
            "ORDER BY total_plan_time + total_exec_time DESC LIMIT %s", [args.top])
        print(" calls  plan µs  exec µs  statement (per order)")
        for count, planned, executed, text in cursor.fetchall():
            print(f"{count / orders:6.2f} {planned / orders * 1000:8.0f} "
                  f"{executed / orders * 1000:8.0f}  {text}")


if __name__ == "__main__":
    main()
