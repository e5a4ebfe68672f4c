"""``make bench``: seed a benchmark database, serve it with gunicorn as in production, load it.

Steps (bench/README.md explains the figures):
1. seed ``bench/bench.sqlite3`` (bench/seed.py: 1,000 accounts, 50,000 users, every plan);
2. count SQL queries per request and response sizes in-process (Flask test client and
   peewee's logger, as tests/conftest.py does), not under load;
3. start gunicorn with the README's production settings (2 workers x 4 threads, loopback);
4. three runs; in each: ``wrk`` for 10 s on the baseline and every read endpoint, then 30 s
   of order placing with 10 connections (a Python load generator: an order needs a cart
   item, the review's idempotency key and fingerprint, then the POST), worker RSS after it;
5. check the database invariants after the order load (fails loudly), print one table, write
   bench/results.json with the medians of the three runs and the targets met or missed.

Options: ``--runs N``, ``--duration S`` (read endpoints), ``--order-duration S``,
``--connections N``, ``--strict`` (exit 1 when a target is missed, not only when an invariant
fails).
"""
import argparse
import gzip
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import seed as bench_seed  # noqa: E402

DB_PATH = os.path.join(HERE, "bench.sqlite3")
RESULTS = os.path.join(HERE, "results.json")
LUA = os.path.join(HERE, "report.lua")
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
SUMMARY_QUERY = "plan=webinar-pro&licenses=8&frequency=annual"

#: The figures the issue asks for (ratios to the baseline of the same run).
TARGETS = {
    "summary_ratio": 0.35, "summary_p99_ms": 25.0, "change_ratio": 0.15, "review_ratio": 0.15,
    "order_ratio": 0.05, "summary_bytes": 4096, "summary_queries": 3, "js_gzip_bytes": 20480,
    "rss_growth": 0.10,
}


def log(message):
    """Progress on stderr, so that stdout holds the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fail(message):
    """Stop loudly."""
    print(f"\nBENCH FAILED: {message}\n", file=sys.stderr, flush=True)
    sys.exit(1)


# --------------------------------------------------------------------------- tools

def ensure_wrk():
    """The path of wrk, installed from Debian when missing and we are root."""
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install wrk")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, env=env)
        path = shutil.which("wrk")
    if not path:
        fail("wrk is not installed (Debian: apt-get install wrk)")
    return path


def free_port():
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- HTTP client

class Client:
    """One keep-alive connection with a session cookie (the subset of a browser we need)."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = None
        self.token = None

    def request(self, method, path, form=None, headers=None):
        """(status, headers, body text); keeps the session cookie the server sets."""
        hdrs = dict(headers or {})
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookie:
            hdrs["Cookie"] = f"session={self.cookie}"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0].split("=", 1)[1]
        text = data.decode("utf-8", "replace")
        match = TOKEN.search(text)
        if match:
            self.token = match.group(1)
        return response.status, dict(response.getheaders()), text

    def login(self, email, password):
        """Log in as a browser does; then load the dashboard so the session holds a CSRF
        secret (otherwise every benchmarked page would write a new session cookie)."""
        self.request("GET", "/login")
        status, headers, _ = self.request("POST", "/login", form={
            "email": email, "password": password, "csrf_token": self.token})
        if status != 303:
            fail(f"login of {email} answered {status}")
        status, _, _ = self.request("GET", "/")
        if status != 200 or not self.cookie:
            fail(f"dashboard after login of {email} answered {status}")
        return self.cookie


# --------------------------------------------------------------------------- gunicorn

def production_env(port):
    """The README's production settings, plus the benchmark switches."""
    env = dict(os.environ)
    env.update({
        "ENV_NAME": "production", "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": f"sqlite:///{DB_PATH}", "FIXED_TODAY": bench_seed.TODAY.isoformat(),
        "RATELIMIT_ENABLED": "0", "PAYMENT_GATEWAY": "sandbox",
    })
    return env


def start_gunicorn(port):
    """gunicorn --workers 2 --threads 4 on loopback; returns the process once it answers."""
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    cmd = [gunicorn, "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{port}",
           "--log-level", "warning", "--pythonpath", HERE,
           "baseline:create_bench_app()"]
    log("starting " + " ".join(cmd[1:]))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=production_env(port), start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(f"gunicorn exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/_bench/baseline")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    fail("gunicorn did not answer within 30 s")


def stop_gunicorn(proc):
    """Graceful stop of the master (it stops its workers)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def worker_pids(master):
    """The gunicorn workers: the master's children."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            pids.append(int(entry))
    return sorted(pids)


def rss_kib(pid):
    """VmRSS of a process in KiB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- in-process

def inprocess_measurements(ids):
    """SQL queries per request and body bytes, with Flask's test client (not under load)."""
    import logging

    from portal import create_app
    from portal.catalog.store import invalidate
    from portal.core.db import db

    class Counter(logging.Handler):
        """Counts peewee's statements (the tests use playhouse's count_queries)."""

        def __init__(self):
            super().__init__(logging.DEBUG)
            self.count = 0

        def emit(self, record):
            if isinstance(record.msg, tuple):  # (sql, params); not the pool's messages
                self.count += 1

    app = create_app({
        "SECRET_KEY": "bench-inprocess-secret-key-0123456789abcdef", "DATABASE_URL": f"sqlite:///{DB_PATH}",
        "FIXED_TODAY": bench_seed.TODAY, "RATELIMIT_ENABLED": False,
        "ENV_NAME": "production", "SESSION_COOKIE_SECURE": False})
    invalidate()
    peewee_log = logging.getLogger("peewee")

    def counted(client, method, path, **kwargs):
        # Warm the process-level caches (catalog) once, as a long-running worker has them.
        counter = Counter()
        peewee_log.addHandler(counter)
        level = peewee_log.level
        peewee_log.setLevel(logging.DEBUG)
        try:
            response = client.open(path, method=method, **kwargs)
        finally:
            peewee_log.removeHandler(counter)
            peewee_log.setLevel(level)
        return response, counter.count

    def login(client, email):
        page = client.get("/login").get_data(as_text=True)
        token = TOKEN.search(page).group(1)
        response = client.post("/login", data={"email": email, "password": ids["password"],
                                               "csrf_token": token})
        assert response.status_code == 303, response.status_code
        client.get("/")

    reader, big, buyer = app.test_client(), app.test_client(), app.test_client()
    login(reader, ids["read_email"])
    login(big, ids["big_email"])
    login(buyer, ids["count_email"])
    sub = ids["read_subscription"]
    checks = {
        "baseline": (reader, "GET", "/_bench/baseline", {}),
        "summary": (reader, "GET", f"/subscriptions/{sub}/change?{SUMMARY_QUERY}",
                    {"headers": {"HX-Request": "true"}}),
        "change": (reader, "GET", f"/subscriptions/{sub}/change", {}),
        "dashboard": (reader, "GET", "/", {}),
        "review": (reader, "GET", "/checkout", {}),
        "licenses": (big, "GET", f"/subscriptions/{ids['big_subscription']}/licenses", {}),
    }
    out = {}
    for name, (client, method, path, kwargs) in checks.items():
        counted(client, method, path, **kwargs)  # warm caches
        response, count = counted(client, method, path, **kwargs)
        if response.status_code != 200:
            fail(f"{name} ({path}) answered {response.status_code} in-process")
        out[name] = {"queries": count, "body_bytes": len(response.get_data())}

    # One order, step by step, on an account of its own.
    cs = ids["count_subscription"]
    page = buyer.get(f"/subscriptions/{cs}/change").get_data(as_text=True)
    token = TOKEN.search(page).group(1)
    response, add_q = counted(buyer, "POST", f"/subscriptions/{cs}/change", data={
        "csrf_token": token, "plan": "webinar-standard", "licenses": "6",
        "frequency": "monthly", "intent": "add"})
    review, review_q = counted(buyer, "GET", "/checkout")
    form = review_form(review.get_data(as_text=True))
    if form is None:
        fail("the review page has no order form")
    response, order_q = counted(buyer, "POST", "/checkout/order", data=dict(form,
                                                                            csrf_token=token))
    if response.status_code != 303 or "/orders/" not in response.headers.get("Location", ""):
        fail(f"in-process order answered {response.status_code}")
    out["order"] = {"queries": order_q, "body_bytes": len(response.get_data()),
                    "flow_queries": {"add_to_cart": add_q, "review": review_q,
                                     "place_order": order_q}}
    if not db.is_closed():
        db.close()
    return out


FORM_FIELDS = {
    name: re.compile(r'name="%s" value="([^"]*)"' % name)
    for name in ("idempotency_key", "fingerprint", "versions")
}
METHOD_FIELD = re.compile(r'name="payment_method" id="payment-method-(\d+)"')


def review_form(html):
    """The order form's hidden fields and the first saved card, from the review page."""
    form = {}
    for name, pattern in FORM_FIELDS.items():
        match = pattern.search(html)
        if not match:
            return None
        form[name] = match.group(1)
    method = METHOD_FIELD.search(html)
    if method:
        form["payment_method"] = method.group(1)
    return form


# --------------------------------------------------------------------------- load

def run_wrk(wrk, port, path, cookie=None, headers=(), duration=10, connections=10):
    """One wrk run; returns its figures (requests/s, latency in ms, non-2xx, bytes)."""
    cmd = [wrk, "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "5s", "-s", LUA]
    if cookie:
        cmd += ["-H", f"Cookie: session={cookie}"]
    for header in headers:
        cmd += ["-H", header]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((l for l in out.stdout.splitlines() if l.startswith("BENCH_JSON ")), None)
    if line is None:
        fail(f"wrk gave no figures for {path}:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line[len("BENCH_JSON "):])
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return {
        "rps": raw["requests"] / seconds, "requests": raw["requests"],
        "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
        "non2xx": raw["non2xx"], "errors": errors,
        "wire_bytes": raw["bytes"] / max(1, raw["requests"]),
    }


class OrderLoad:
    """Places orders as fast as 10 connections can: add to cart, review, place the order.

    Each connection is one billing contact of its own account, alternating its Webinar
    licenses between 20 and 21 (one an increase paid with the saved card, one a decrease
    credited to the balance). Every 5th order is submitted twice with the same key (a double
    click): the second answer must be the same order. Latency is the order POST's only.
    """

    def __init__(self, port, ids, duration):
        self.port = port
        self.ids = ids
        self.duration = duration
        self.lock = threading.Lock()
        self.latencies = []
        self.posts = 0
        self.errors = []
        self.non2xx = 0
        self.placed = {}   # order id -> idempotency key
        self.flows = 0
        self.bytes = 0

    def run(self, clients):
        """Run the load for ``duration`` seconds; returns the figures."""
        stop = time.monotonic() + self.duration
        threads = [threading.Thread(target=self.worker, args=(client, sub, stop))
                   for client, sub in clients]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        lat = sorted(self.latencies)
        return {
            "rps": self.posts / elapsed, "requests": self.posts, "orders": len(self.placed),
            "flows_per_s": self.flows / elapsed,
            "p50_ms": percentile(lat, 50) * 1000, "p99_ms": percentile(lat, 99) * 1000,
            "non2xx": self.non2xx, "errors": len(self.errors), "error_samples": self.errors[:5],
            "wire_bytes": self.bytes / max(1, self.posts),
        }

    def error(self, what):
        """Record an unexpected answer."""
        with self.lock:
            self.errors.append(what)

    def worker(self, client, sub, stop):
        """One connection's loop."""
        n = 0
        while time.monotonic() < stop:
            licenses = "21" if client.licenses == 20 else "20"
            status, headers, _ = client.request("POST", f"/subscriptions/{sub}/change", form={
                "csrf_token": client.token, "plan": "webinar-standard", "licenses": licenses,
                "frequency": "monthly", "intent": "add"})
            if status != 303:
                self.error(f"add to cart: {status}")
                continue
            status, _, html = client.request("GET", "/checkout")
            form = review_form(html) if status == 200 else None
            if form is None:
                self.error(f"review: {status}")
                continue
            form["csrf_token"] = client.token
            order_id = self.post_order(client, form)
            if order_id is None:
                continue
            n += 1
            if n % 5 == 0:  # double submit: must answer the same order
                again = self.post_order(client, form, replay=True)
                if again is not None and again != order_id:
                    self.error(f"double submit made order {again} besides {order_id}")
            client.licenses = int(licenses)
            with self.lock:
                self.flows += 1

    def post_order(self, client, form, replay=False):
        """POST /checkout/order; the order id, or None after recording the error."""
        t0 = time.perf_counter()
        status, headers, body = client.request("POST", "/checkout/order", form=form)
        elapsed = time.perf_counter() - t0
        location = headers.get("Location", "")
        match = re.search(r"/orders/(\d+)$", location)
        with self.lock:
            self.latencies.append(elapsed)
            self.posts += 1
            self.bytes += len(body)
            if not 200 <= status < 300 and status != 303:
                self.non2xx += 1  # 303 See Other (to the confirmation) is the success answer
        if status != 303 or not match:
            self.error(f"order: {status} {location or body[:120]!r}")
            return None
        order_id = int(match.group(1))
        with self.lock:
            if replay:
                return order_id
            if order_id in self.placed:
                self.errors.append(f"order {order_id} answered for two keys")
            self.placed[order_id] = form["idempotency_key"]
        return order_id


def percentile(values, pct):
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return 0.0
    index = max(0, min(len(values) - 1, round(pct / 100 * len(values) + 0.5) - 1))
    return values[index]


# --------------------------------------------------------------------------- checks

def check_invariants(placed_total):
    """The database after the order load: versions, keys, ledger; [] when all hold."""
    problems = []
    con = sqlite3.connect(DB_PATH)
    try:
        rows = con.execute(
            "SELECT s.id, s.version, COUNT(DISTINCT l.order_id) FROM subscription s "
            "LEFT JOIN order_line l ON l.subscription_id = s.id GROUP BY s.id").fetchall()
        bad = [r for r in rows if r[1] != 1 + r[2]]
        if bad:
            problems.append(f"{len(bad)} subscriptions whose version != 1 + orders, e.g. "
                            f"(id, version, orders) {bad[:3]}")
        dup = con.execute('SELECT idempotency_key, COUNT(*) FROM "order" GROUP BY 1 '
                          "HAVING COUNT(*) > 1").fetchall()
        if dup:
            problems.append(f"{len(dup)} idempotency keys with several orders: {dup[:3]}")
        ledger = con.execute(
            "SELECT a.id, a.balance_cents, COALESCE(SUM(e.amount_cents), 0) FROM account a "
            "LEFT JOIN ledger_entry e ON e.account_id = a.id GROUP BY a.id").fetchall()
        off = [r for r in ledger if r[1] != r[2]]
        if off:
            problems.append(f"{len(off)} accounts whose balance != ledger sum: {off[:3]}")
        orders = con.execute('SELECT COUNT(*) FROM "order"').fetchone()[0]
        if orders != placed_total:
            problems.append(f"{orders} orders in the database, {placed_total} confirmed to "
                            "the clients (lost or phantom orders)")
        invoices = con.execute("SELECT COUNT(*), COUNT(DISTINCT number) FROM invoice").fetchone()
        if invoices[0] != orders or invoices[0] != invoices[1]:
            problems.append(f"invoices {invoices[0]} (distinct numbers {invoices[1]}) "
                            f"for {orders} orders")
    finally:
        con.close()
    return problems


def js_gzip_bytes():
    """Every JavaScript file the portal serves, gzipped (level 9), summed."""
    total, files = 0, {}
    for folder, _dirs, names in os.walk(os.path.join(ROOT, "static")):
        for name in names:
            if name.endswith(".js"):
                path = os.path.join(folder, name)
                with open(path, "rb") as fh:
                    size = len(gzip.compress(fh.read(), 9))
                files[os.path.relpath(path, ROOT)] = size
                total += size
    return total, files


# --------------------------------------------------------------------------- main

ENDPOINTS = [  # name, label
    ("baseline", "baseline (bare route)"),
    ("summary", "summary partial (htmx)"),
    ("change", "change page"),
    ("dashboard", "dashboard"),
    ("review", "review page"),
    ("licenses", "license page (5,000 users)"),
    ("order", "place order (POST)"),
]


def main():
    """Seed, measure, load, check, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--order-duration", type=int, default=30)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()

    wrk = ensure_wrk()
    log("seeding bench/bench.sqlite3 (1,000 accounts, 50,000 users)")
    ids = bench_seed.seed(DB_PATH)
    log(f"seeded in {ids['seconds']} s: {ids['accounts']} accounts, {ids['users']} users, "
        f"{ids['subscriptions']} subscriptions, {ids['assignments']} license assignments")

    log("counting SQL queries per request in-process")
    inproc = inprocess_measurements(ids)
    in_process_orders = 1

    port = free_port()
    server = start_gunicorn(port)
    try:
        results = load(server, port, wrk, ids, args)
    finally:
        stop_gunicorn(server)

    placed = sum(run["order"]["orders"] for run in results["runs"]) + in_process_orders
    problems = check_invariants(placed)
    report = summarize(results, inproc, ids, args, problems)
    with open(RESULTS, "w") as fh:
        json.dump(report, fh, indent=2)
    print_table(report)
    if problems:
        fail("database invariants broken after the order load:\n  " + "\n  ".join(problems))
    missed = [t for t in report["targets"] if not t["met"]]
    if missed and args.strict:
        fail("targets missed: " + ", ".join(t["name"] for t in missed))


def load(server, port, wrk, ids, args):
    """Warm-up, then the runs; returns per-run figures and worker RSS."""
    reader, big = Client(port), Client(port)
    read_cookie = reader.login(ids["read_email"], ids["password"])
    big_cookie = big.login(ids["big_email"], ids["password"])
    sub = ids["read_subscription"]
    targets = {
        "baseline": ("/_bench/baseline", None, ()),
        "summary": (f"/subscriptions/{sub}/change?{SUMMARY_QUERY}", read_cookie,
                    ("HX-Request: true",)),
        "change": (f"/subscriptions/{sub}/change", read_cookie, ()),
        "dashboard": ("/", read_cookie, ()),
        "review": ("/checkout", read_cookie, ()),
        "licenses": (f"/subscriptions/{ids['big_subscription']}/licenses", big_cookie, ()),
    }
    probe = Client(port)
    for name, (path, cookie, headers) in targets.items():
        probe.cookie = cookie
        status, _, _ = probe.request("GET", path, headers=dict(h.split(": ", 1)
                                                               for h in headers))
        if status != 200:
            fail(f"{name} ({path}) answered {status} under gunicorn")

    buyers = []
    for email, order_sub in zip(ids["order_emails"], ids["order_subscriptions"]):
        client = Client(port)
        client.login(email, ids["password"])
        client.request("GET", f"/subscriptions/{order_sub}/change")  # CSRF token
        client.licenses = 20
        buyers.append((client, order_sub))

    log("warm-up: 2 s per read endpoint")
    for name, (path, cookie, headers) in targets.items():
        run_wrk(wrk, port, path, cookie, headers, duration=2, connections=args.connections)

    runs, rss = [], []
    workers = worker_pids(server.pid)
    for number in range(1, args.runs + 1):
        run = {}
        for name, (path, cookie, headers) in targets.items():
            run[name] = run_wrk(wrk, port, path, cookie, headers, duration=args.duration,
                                connections=args.connections)
            log(f"run {number} {name}: {run[name]['rps']:.0f} req/s, "
                f"p99 {run[name]['p99_ms']:.1f} ms, non-2xx {run[name]['non2xx']}")
        order_clients = buyers[:args.connections]
        run["order"] = OrderLoad(port, ids, args.order_duration).run(order_clients)
        log(f"run {number} order: {run['order']['rps']:.1f} POST/s, "
            f"{run['order']['orders']} orders, errors {run['order']['errors']} "
            f"{run['order']['error_samples']}")
        current = worker_pids(server.pid)
        if current != workers:
            log(f"workers changed from {workers} to {current} (a worker restarted)")
        rss.append({str(pid): rss_kib(pid) for pid in current})
        runs.append(run)
    return {"runs": runs, "rss_kib": rss}


def summarize(results, inproc, ids, args, problems):
    """Medians over the runs, ratios to the same run's baseline, targets."""
    runs = results["runs"]
    endpoints = {}
    for name, label in ENDPOINTS:
        per_run = [run[name] for run in runs]
        ratios = [run[name]["rps"] / run["baseline"]["rps"] for run in runs]
        endpoints[name] = {
            "label": label,
            "rps": statistics.median(r["rps"] for r in per_run),
            "ratio": statistics.median(ratios),
            "p50_ms": statistics.median(r["p50_ms"] for r in per_run),
            "p99_ms": statistics.median(r["p99_ms"] for r in per_run),
            "non2xx": sum(r["non2xx"] for r in per_run),
            "errors": sum(r["errors"] for r in per_run),
            "wire_bytes": statistics.median(r["wire_bytes"] for r in per_run),
            "body_bytes": inproc[name]["body_bytes"],
            "queries": inproc[name]["queries"],
            "runs": per_run,
        }
    endpoints["order"]["orders"] = sum(r["order"]["orders"] for r in runs)
    endpoints["order"]["flows_per_s"] = statistics.median(r["order"]["flows_per_s"]
                                                          for r in runs)
    endpoints["order"]["flow_queries"] = inproc["order"]["flow_queries"]
    rss_first = sum(results["rss_kib"][0].values())
    rss_last = sum(results["rss_kib"][-1].values())
    growth = (rss_last - rss_first) / rss_first if rss_first else 0.0
    js_total, js_files = js_gzip_bytes()
    e = endpoints
    t = TARGETS
    targets = [
        _target("summary partial >= 0.35 x baseline", e["summary"]["ratio"], ">=",
                t["summary_ratio"]),
        _target("summary partial p99 <= 25 ms", e["summary"]["p99_ms"], "<=",
                t["summary_p99_ms"]),
        _target("change page >= 0.15 x baseline", e["change"]["ratio"], ">=", t["change_ratio"]),
        _target("review page >= 0.15 x baseline", e["review"]["ratio"], ">=", t["review_ratio"]),
        _target("place order >= 0.05 x baseline", e["order"]["ratio"], ">=", t["order_ratio"]),
        _target("place order: zero errors", e["order"]["errors"], "<=", 0),
        _target("zero lost updates (invariants)", len(problems), "<=", 0),
        _target("summary partial <= 4 KB", e["summary"]["body_bytes"], "<=",
                t["summary_bytes"]),
        _target("summary partial <= 3 SQL queries", e["summary"]["queries"], "<=",
                t["summary_queries"]),
        _target("all JavaScript <= 20 KB gzipped", js_total, "<=", t["js_gzip_bytes"]),
        _target("worker RSS growth <= 10 %", growth, "<=", t["rss_growth"]),
    ]
    return {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "cpu": _cpu_model()},
        "settings": {"runs": args.runs, "duration_s": args.duration,
                     "order_duration_s": args.order_duration, "connections": args.connections,
                     "gunicorn": "--workers 2 --threads 4", "load_generator":
                     "wrk -t2 (reads); Python threads + http.client (orders)"},
        "dataset": {k: ids[k] for k in ("accounts", "users", "subscriptions", "assignments")},
        "endpoints": endpoints,
        "worker_rss_kib": results["rss_kib"], "rss_growth": growth,
        "js_gzip_bytes": js_total, "js_files": js_files,
        "invariant_problems": problems, "targets": targets,
    }


def _target(name, value, op, limit):
    """One target with its figure and whether it is met."""
    met = value >= limit if op == ">=" else value <= limit
    return {"name": name, "value": round(value, 4), "limit": limit, "met": met}


def _cpu_model():
    """The CPU's model name, for the README's 'machine' line."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def print_table(report):
    """The one table, then the targets."""
    head = (f"{'endpoint':30} {'req/s':>8} {'x base':>7} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'non2xx':>7} {'body B':>7} {'wire B':>7} {'SQL/req':>7}")
    print()
    print(head)
    print("-" * len(head))
    for name, _label in ENDPOINTS:
        e = report["endpoints"][name]
        print(f"{e['label']:30} {e['rps']:8.1f} {e['ratio']:7.3f} {e['p50_ms']:7.2f} "
              f"{e['p99_ms']:7.2f} {e['non2xx']:7d} {e['body_bytes']:7d} "
              f"{e['wire_bytes']:7.0f} {e['queries']:7d}")
    order = report["endpoints"]["order"]
    rss = report["worker_rss_kib"]
    print(f"\norders placed: {order['orders']} ({order['flows_per_s']:.1f} complete "
          f"add-review-order flows/s; queries per step {order['flow_queries']}); "
          f"order errors: {order['errors']}")
    print("worker RSS KiB per run: " + "; ".join(
        ", ".join(f"{v}" for v in run.values()) for run in rss)
        + f" (growth {report['rss_growth'] * 100:+.1f} %)")
    print(f"JavaScript gzipped: {report['js_gzip_bytes']} bytes")
    print(f"machine: {report['machine']['cpus']} CPUs, {report['machine']['cpu']}")
    print("\ntargets:")
    for t in report["targets"]:
        print(f"  [{'met' if t['met'] else 'MISSED'}] {t['name']}: {t['value']} "
              f"(limit {t['limit']})")
    if report["invariant_problems"]:
        print("\ninvariants BROKEN:\n  " + "\n  ".join(report["invariant_problems"]))
    else:
        print("\ninvariants after the order load: hold (version = 1 + orders, one order per "
              "key, ledger = balance, orders = confirmations)")
    print(f"\nwritten: {os.path.relpath(RESULTS, ROOT)}")


if __name__ == "__main__":
    main()
