"""CPU per step of the order flow (add to cart, review, place order), in-process.

    .venv/bin/python bench/order_cpu.py [-n 100] [--profile] [--url postgresql://...]

Works on a copy of bench/bench.sqlite3 (seeded when missing), or with ``--url`` on a
PostgreSQL database it seeds first (bench/seed.py replaces its schema; the portal reaches it
through its connection pool, as in production); also reports how long the order's write
transaction is held (the part SQLite serialises across all workers).
"""
import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import run as bench  # noqa: E402
import seed as bench_seed  # noqa: E402


def main():
    """Place ``-n`` orders on one account; print CPU ms per step and lock hold time."""
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--url", help="a PostgreSQL database to seed and use instead")
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    if args.url:
        bench_seed.seed(args.url)
        database_url = bench.served_url(args.url)
    else:
        if not os.path.exists(bench.DB_PATH):
            bench_seed.seed(bench.DB_PATH)
        path = os.path.join(folder, "bench.sqlite3")
        shutil.copyfile(bench.DB_PATH, path)
        database_url = f"sqlite:///{path}"
    from baseline import create_bench_app
    from portal.checkout import orders
    app = create_bench_app({
        "SECRET_KEY": "bench-profile-secret-key-0123456789abcdef",
        "DATABASE_URL": database_url, "PAYMENT_GATEWAY": "sandbox",
        "FIXED_TODAY": bench_seed.TODAY, "RATELIMIT_ENABLED": False,
        "ENV_NAME": "production", "SESSION_COOKIE_SECURE": False,
        "ORDER_CHARGE_THREADS": 0})  # the whole order in its request, to be measured
    held = []
    original = orders.write_transaction

    @contextlib.contextmanager
    def timed_transaction():
        started = time.perf_counter()
        with original():
            yield
        held.append(time.perf_counter() - started)

    orders.write_transaction = timed_transaction
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = bench.TOKEN.search(page).group(1)
    client.post("/login", data={"email": bench_seed.owner_email(2),
                                "password": bench_seed.PASSWORD, "csrf_token": token})
    sub = 3  # account 2's Webinar subscription (bench/seed.py)
    page = client.get(f"/subscriptions/{sub}/change").get_data(as_text=True)
    token = bench.TOKEN.search(page).group(1)
    spent = {"add": 0.0, "review": 0.0, "order": 0.0}
    profiler = None
    if args.profile:
        import pyinstrument
        profiler = pyinstrument.Profiler(interval=0.0002)
    for i in range(args.n + 5):
        if i == 5:  # after a warm-up
            spent = {k: 0.0 for k in spent}
            held.clear()
        t = time.process_time()
        response = client.post(f"/subscriptions/{sub}/change", data={
            "csrf_token": token, "plan": "webinar-standard", "licenses": str(40 + i % 2),
            "frequency": "monthly", "intent": "add"})
        assert response.status_code == 303, (response.status_code,
                                             response.get_data(as_text=True)[-1500:])
        spent["add"] += time.process_time() - t
        t = time.process_time()
        form = bench.review_form(client.get("/checkout").get_data(as_text=True))
        spent["review"] += time.process_time() - t
        form["csrf_token"] = token
        if profiler and i >= 5:
            profiler.start()
        t = time.process_time()
        response = client.post("/checkout/order", data=form)
        spent["order"] += time.process_time() - t
        if profiler and i >= 5:
            profiler.stop()
        assert response.status_code == 303, (response.status_code,
                                             response.get_data(as_text=True)[:300])
    if profiler:
        print(profiler.output_text(unicode=False, color=False))
    for step, seconds in spent.items():
        print(f"{step:7} {seconds / args.n * 1000:6.2f} ms CPU/request")
    print(f"write transaction held {sum(held) / len(held) * 1000:.2f} ms on average")
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
