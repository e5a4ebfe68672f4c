"""Machine instructions per request of every benchmarked endpoint, in-process: a count, not
a time, so a busy or noisy machine does not move it.

    .venv/bin/python bench/instructions.py [-n 100] [endpoint ...]

Runs the portal under valgrind (``cachegrind`` without its cache simulation, Debian package
``valgrind``) twice per endpoint: once with a warm-up only, once with ``-n`` more requests;
the difference divided by ``-n`` is what one request costs, start-up left out. Python's hash
seed is fixed, so two runs of the same code agree within about 0.1 %. About a minute per
endpoint (valgrind runs Python some fifty times slower).

Same app settings and data as ``bench/cpu.py``; the bare route is asked without a session
cookie, as ``make bench`` asks it, and the ratio column is the bare route's count divided by
the endpoint's (the CPU ratio of ``make bench``'s targets, without the machine's noise).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import run as bench  # noqa: E402
import seed as bench_seed  # noqa: E402

ENDPOINTS = ("baseline", "summary", "change", "dashboard", "review", "licenses")
WARM_UP = 30


def serve(endpoint, count):
    """In the child process: log in, warm up, then answer ``count`` requests of ``endpoint``."""
    from baseline import create_bench_app
    app = create_bench_app({
        "SECRET_KEY": "bench-profile-secret-key-0123456789abcdef",
        "DATABASE_URL": f"sqlite:///{bench.DB_PATH}",
        "FIXED_TODAY": bench_seed.TODAY, "RATELIMIT_ENABLED": False,
        "ENV_NAME": "production", "SESSION_COOKIE_SECURE": False})
    owner = 1 if endpoint == "licenses" else bench_seed.READ_ACCOUNT
    client = app.test_client()
    if endpoint != "baseline":
        page = client.get("/login").get_data(as_text=True)
        client.post("/login", data={"email": bench_seed.owner_email(owner),
                                    "password": bench_seed.PASSWORD,
                                    "csrf_token": bench.TOKEN.search(page).group(1)})
        client.get("/")
    path, headers = bench.inprocess_paths()[endpoint]
    for _ in range(WARM_UP + count):
        response = client.get(path, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"{endpoint}: {path} answered {response.status_code}")


def instructions(valgrind, endpoint, count):
    """The instructions valgrind counted for a child answering ``count`` requests."""
    result = subprocess.run(
        [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, os.path.abspath(__file__), "--child", endpoint, str(count)],
        capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    match = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if result.returncode or not match:
        raise SystemExit(f"valgrind failed for {endpoint}:\n{result.stderr[-2000:]}")
    return int(match.group(1).replace(",", ""))


def main():
    """Count each endpoint's instructions per request; print them with the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--child", nargs=2, metavar=("ENDPOINT", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("endpoints", nargs="*", help=", ".join(ENDPOINTS))
    args = parser.parse_args()
    unknown = set(args.endpoints) - set(ENDPOINTS)
    if unknown:
        parser.error(f"unknown endpoint(s): {', '.join(sorted(unknown))}")
    if args.child:
        serve(args.child[0], int(args.child[1]))
        return
    valgrind = shutil.which("valgrind")
    if not valgrind:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    if not os.path.exists(bench.DB_PATH):
        bench_seed.seed(bench.DB_PATH)
    names = args.endpoints or list(ENDPOINTS)
    if "baseline" not in names:
        names.insert(0, "baseline")
    per_request = {}
    for name in names:
        spent = instructions(valgrind, name, args.n) - instructions(valgrind, name, 0)
        per_request[name] = spent / args.n
        ratio = per_request["baseline"] / per_request[name]
        print(f"{name:10} {per_request[name] / 1e6:7.3f} M instructions/request  "
              f"bare route ÷ endpoint {ratio:.3f}", flush=True)


if __name__ == "__main__":
    main()
