"""Profile one benchmarked endpoint in-process with pyinstrument (installed when missing).

    .venv/bin/python bench/profile.py summary [-n 300]   # baseline, summary, change,
                                                          # dashboard, review, licenses

Uses bench/bench.sqlite3 (``make bench`` seeds it; seeded here when missing) and the same
settings as the benchmark, through Flask's test client, so the profile shows the portal's own
work per request (no network, no gunicorn).
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import run as bench  # noqa: E402
import seed as bench_seed  # noqa: E402


def main():
    """Seed if needed, log in, warm up, profile ``-n`` requests, print the tree."""
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint", choices=["baseline", "summary", "change", "dashboard",
                                             "review", "licenses"])
    parser.add_argument("-n", type=int, default=300)
    args = parser.parse_args()
    try:
        import pyinstrument
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pyinstrument"],
                       check=True)
        import pyinstrument
    if not os.path.exists(bench.DB_PATH):
        bench_seed.seed(bench.DB_PATH)
    from baseline import create_bench_app
    app = create_bench_app({
        "SECRET_KEY": "bench-profile-secret-key-0123456789abcdef", "DATABASE_URL": f"sqlite:///{bench.DB_PATH}",
        "FIXED_TODAY": bench_seed.TODAY, "RATELIMIT_ENABLED": False,
        "ENV_NAME": "production", "SESSION_COOKIE_SECURE": False})
    client = app.test_client()
    email = bench_seed.owner_email(1 if args.endpoint == "licenses" else bench_seed.READ_ACCOUNT)
    page = client.get("/login").get_data(as_text=True)
    token = bench.TOKEN.search(page).group(1)
    client.post("/login", data={"email": email, "password": bench_seed.PASSWORD,
                                "csrf_token": token})
    client.get("/")
    path, headers = bench.inprocess_paths()[args.endpoint]
    for _ in range(20):
        assert client.get(path, headers=headers).status_code == 200
    profiler = pyinstrument.Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    for _ in range(args.n):
        client.get(path, headers=headers)
    profiler.stop()
    elapsed = time.perf_counter() - started
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    print(f"{args.endpoint}: {args.n} requests, {elapsed / args.n * 1000:.2f} ms each "
          "(in-process, profiler on)")


if __name__ == "__main__":
    main()
