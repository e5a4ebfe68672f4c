"""Server CPU per request under wrk: where the in-process figures and `make bench` differ.

    .venv/bin/python bench/server_cpu.py [--duration 5] [endpoint ...]

Starts gunicorn as `make bench` does (bench/bench.sqlite3 must exist: run `make bench` or
bench/profile.py once), runs wrk on each endpoint and reports requests/s together with the
CPU the gunicorn workers and wrk itself used per request (from /proc and rusage), so that a
loaded machine can be told apart from a slow endpoint.
"""
import argparse
import os
import resource
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import run as bench  # noqa: E402
import seed as bench_seed  # noqa: E402


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_gunicorn(port, workers, threads, app="baseline:create_bench_app()"):
    """``bench.run.start_gunicorn`` with other worker and thread counts (for comparison)."""
    import subprocess
    import time
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    cmd = [gunicorn, "--workers", str(workers), "--threads", str(threads),
           "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--pythonpath", HERE, app]
    proc = subprocess.Popen(cmd, cwd=bench.ROOT, env=bench.production_env(port),
                            start_new_session=True)
    client = bench.Client(port)
    for _ in range(150):
        try:
            if client.request("GET", "/_bench/baseline")[0] == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    bench.stop_gunicorn(proc)
    raise SystemExit("gunicorn did not start")


def main():
    """Start gunicorn, measure each endpoint, stop gunicorn."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--app", default="baseline:create_bench_app()", help="the WSGI app gunicorn loads")
    parser.add_argument("endpoints", nargs="*",
                        default=["baseline", "summary", "change", "review", "dashboard"])
    args = parser.parse_args()
    wrk = bench.ensure_wrk()
    port = bench.free_port()
    server = start_gunicorn(port, args.workers, args.threads, args.app)
    try:
        client = bench.Client(port)
        cookie = client.login(bench_seed.owner_email(bench_seed.READ_ACCOUNT), bench_seed.PASSWORD)
        sub = 2 * bench_seed.READ_ACCOUNT - 1  # its Webinar subscription (bench/seed.py)
        targets = {
            "baseline": ("/_bench/baseline", None, ()),
            "summary": (f"/subscriptions/{sub}/change?{bench.SUMMARY_QUERY}", cookie,
                        ("HX-Request: true",)),
            "change": (f"/subscriptions/{sub}/change", cookie, ()),
            "dashboard": ("/", cookie, ()),
            "review": ("/checkout", cookie, ()),
        }
        workers = bench.worker_pids(server.pid)
        for name in args.endpoints:
            path, cook, headers = targets[name]
            bench.run_wrk(wrk, port, path, cook, headers, duration=1,
                          connections=args.connections)
            each = [cpu_seconds(p) for p in workers]
            before = sum(each)
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            result = bench.run_wrk(wrk, port, path, cook, headers, duration=args.duration,
                                   connections=args.connections)
            each = [round(cpu_seconds(p) - b, 2) for p, b in zip(workers, each)]
            after = before + sum(each)
            children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            wrk_cpu = (children_after.ru_utime + children_after.ru_stime
                       - children.ru_utime - children.ru_stime)
            n = result["requests"]
            print(f"{name:10} {result['rps']:8.0f} req/s  p99 {result['p99_ms']:6.1f} ms  "
                  f"server {(after - before) / n * 1000:5.2f} ms CPU/req  "
                  f"wrk {wrk_cpu / n * 1000:5.2f} ms CPU/req  per worker s {each}", flush=True)
    finally:
        bench.stop_gunicorn(server)


if __name__ == "__main__":
    main()
