"""CPU time per request of every benchmarked endpoint, in-process, no profiler.

    .venv/bin/python bench/cpu.py [-n 300]

Same app settings and data as ``bench/profile.py``; measures ``time.process_time`` (CPU of
this process) rather than wall time, so a loaded machine disturbs it less than ``make bench``.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import run as bench  # noqa: E402
import seed as bench_seed  # noqa: E402


def main():
    """Log in, warm up and time each endpoint; print CPU ms per request (best of 3 rounds)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("endpoints", nargs="*")
    args = parser.parse_args()
    if not os.path.exists(bench.DB_PATH):
        bench_seed.seed(bench.DB_PATH)
    from baseline import create_bench_app
    app = create_bench_app({
        "SECRET_KEY": "bench-profile-secret-key-0123456789abcdef",
        "DATABASE_URL": f"sqlite:///{bench.DB_PATH}",
        "FIXED_TODAY": bench_seed.TODAY, "RATELIMIT_ENABLED": False,
        "ENV_NAME": "production", "SESSION_COOKIE_SECURE": False})
    clients = {}
    for owner in (bench_seed.READ_ACCOUNT, 1):
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = bench.TOKEN.search(page).group(1)
        client.post("/login", data={"email": bench_seed.owner_email(owner),
                                    "password": bench_seed.PASSWORD, "csrf_token": token})
        client.get("/")
        clients[owner] = client
    paths = {name: (1 if name == "licenses" else bench_seed.READ_ACCOUNT, path, headers)
             for name, (path, headers) in bench.inprocess_paths().items()}
    for name in args.endpoints or paths:
        owner, path, headers = paths[name]
        client = clients[owner]
        for _ in range(20):
            assert client.get(path, headers=headers).status_code == 200
        best = None
        for _round in range(3):
            started = time.process_time()
            for _ in range(args.n):
                client.get(path, headers=headers)
            spent = (time.process_time() - started) / args.n * 1000
            best = spent if best is None else min(best, spent)
        print(f"{name:10} {best:6.2f} ms CPU/request")


if __name__ == "__main__":
    main()
