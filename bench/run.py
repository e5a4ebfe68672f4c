"""``make bench``: the portal under load, as in production, on SQLite and PostgreSQL.

Legs (bench/README.md explains every figure):
1. **SQLite** (``bench/bench.sqlite3``, bench/seed.py: 1,000 accounts, 50,000 users): SQL
   queries per request in-process; then gunicorn with the production settings
   (``GUNICORN``, the top-level README's); read endpoints under ``wrk``, each run interleaved
   with the bare baseline route (baseline, summary, baseline, change, ...), with the gunicorn
   workers' CPU time (``/proc``) per request answered; order placing with an instant
   gateway (10 buyers, every order an increase charged to the card); order placing with a
   300 ms gateway and 20 buyers; the database invariants.
2. **PostgreSQL**: the same on a throw-away local cluster (bench/pg.py), seeded alike.
3. **100x data** (SQLite): 100,000 accounts and 5,000,000 users (seeded once and kept in
   ``bench/bench-large-x100-<hash of the seed code>.sqlite3``), the read endpoints again; the
   growth of each one's CPU per request against the small data set.
4. **Renewals**: bench/renewals.py, when it exists, with ``--json``; its figures are merged.

Then one table per leg on stdout, ``bench/results.json`` (every figure), ``bench/chart.svg``
and the "Last results" section of bench/README.md. Exit 1 when an invariant breaks or fewer
than 80 % of the orders charged a card; ``--strict`` also when a target is missed.

``--quick`` is a short look (one run, 2 s per endpoint, 10x instead of 100x data); ``--skip``
leaves legs out (``--skip postgresql,large,renewals``).
"""
import argparse
import gzip
import hashlib
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
CHART = os.path.join(HERE, "chart.svg")
README = os.path.join(HERE, "README.md")
LUA = os.path.join(HERE, "report.lua")
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
SUMMARY_QUERY = "plan=webinar-pro&licenses=8&frequency=annual"

#: gunicorn's settings per engine: the top-level README's production section (where the
#: choice is explained with its figures).
GUNICORN = {
    "sqlite": ["--workers", "2"],
    "postgresql": ["--workers", "2"],
}

#: The issue's targets. CPU ratios: the bare route's server CPU per request divided by the
#: endpoint's (0.33: the endpoint costs at most 3x the bare route).
TARGETS = {
    "summary_cpu_ratio": 0.33, "summary_p99_ms": 25.0, "change_cpu_ratio": 0.17,
    "review_cpu_ratio": 0.17, "latency_orders_per_s": {"sqlite": 20, "postgresql": 40},
    "charged_share": 0.80, "growth": 1.2, "licenses_growth": 2.0,
    "summary_bytes": 4096, "summary_queries": 3, "js_gzip_bytes": 20480, "rss_growth": 0.10,
}
#: The order loads: buyers and gateway latency.
INSTANT_BUYERS = 10
LATENCY_BUYERS = 20
LATENCY_MS = 300
#: The growth leg's data: ``scale`` times the small set (100,000 accounts, 5,000,000 users).
LARGE_SCALE = 100


def inprocess_paths():
    """{endpoint: (path, headers)} that the in-process tools (``profile.py``, ``cpu.py``,
    ``instructions.py``) ask: the seed's read and big subscriptions, two per account,
    Webinar first (``bench/seed.py``). The license page is the big account's (account 1)."""
    read_sub, big_sub = 2 * bench_seed.READ_ACCOUNT - 1, 1
    return {
        "baseline": ("/_bench/baseline", {}),
        "summary": (f"/subscriptions/{read_sub}/change?{SUMMARY_QUERY}", {"HX-Request": "true"}),
        "change": (f"/subscriptions/{read_sub}/change", {}),
        "dashboard": ("/", {}),
        "review": ("/checkout", {}),
        "licenses": (f"/subscriptions/{big_sub}/licenses", {}),
    }


def log(message):
    """Progress on stderr, so that stdout holds the tables."""
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

def production_env(port=None, url=None, extra=None):
    """The production settings, plus the benchmark switches."""
    env = dict(os.environ)
    env.update({
        "ENV_NAME": "production", "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": url or f"sqlite:///{DB_PATH}",
        "FIXED_TODAY": bench_seed.TODAY.isoformat(),
        "RATELIMIT_ENABLED": "0", "PAYMENT_GATEWAY": "sandbox",
    })
    env.update(extra or {})
    return env


def start_gunicorn(port, url=None, settings=None, extra_env=None):
    """gunicorn with ``settings`` (default: the SQLite production settings) on loopback;
    returns the process once it answers."""
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    cmd = [gunicorn, *(settings or GUNICORN["sqlite"]), "--bind", f"127.0.0.1:{port}",
           "--log-level", "warning", "--pythonpath", HERE, "baseline:create_bench_app()"]
    log("starting gunicorn " + " ".join(settings or GUNICORN["sqlite"])
        + (f" ({', '.join(f'{k}={v}' for k, v in extra_env.items())})" if extra_env else ""))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=production_env(port, url, extra_env),
                            start_new_session=True)
    deadline = time.monotonic() + 60
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
    fail("gunicorn did not answer within 60 s")


def stop_gunicorn(proc):
    """Graceful stop of the master (it stops its workers)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def workers_cpu(master):
    """CPU seconds of the gunicorn workers so far."""
    return sum(cpu_seconds(pid) for pid in worker_pids(master))


# --------------------------------------------------------------------------- in-process

def inprocess_measurements(ids):
    """SQL queries per request and body bytes, with Flask's test client (not under load)."""
    import logging

    from baseline import create_bench_app
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

    app = create_bench_app({
        "SECRET_KEY": "bench-inprocess-secret-key-0123456789abcdef", "DATABASE_URL": f"sqlite:///{DB_PATH}",
        "FIXED_TODAY": bench_seed.TODAY, "RATELIMIT_ENABLED": False,
        "ENV_NAME": "production", "SESSION_COOKIE_SECURE": False,
        # the order's every query, charge and completion included, in the one request
        "ORDER_CHARGE_THREADS": 0})
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

def run_wrk(wrk, port, path, cookie=None, headers=(), duration=10, connections=10, master=None):
    """One wrk run; its figures (requests/s, latency in ms, non-2xx, bytes) and, given the
    gunicorn master, the workers' CPU milliseconds per request answered."""
    cmd = [wrk, "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "5s", "-s", LUA]
    if cookie:
        cmd += ["-H", f"Cookie: session={cookie}"]
    for header in headers:
        cmd += ["-H", header]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    before = workers_cpu(master) if master else 0.0
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    cpu = (workers_cpu(master) - before) if master else 0.0
    line = next((l for l in out.stdout.splitlines() if l.startswith("BENCH_JSON ")), None)
    if line is None:
        fail(f"wrk gave no figures for {path}:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line[len("BENCH_JSON "):])
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    requests = max(1, raw["requests"])
    return {
        "rps": raw["requests"] / seconds, "requests": raw["requests"],
        "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
        "non2xx": raw["non2xx"], "errors": errors,
        "wire_bytes": raw["bytes"] / requests, "cpu_ms": cpu * 1000 / requests,
    }


class OrderLoad:
    """Places orders as fast as its connections can: add to cart, review, place the order.

    Each connection is the billing contact of an account of its own with no credit on its
    balance, and every order adds one Webinar license (an increase: an amount due, charged to
    the saved card). Every 5th order is submitted twice with the same key (a double click):
    the second answer must be the same order.

    The order is charged in the background (``ORDER_CHARGE_THREADS``): its POST answers with
    the "being processed" page, which the buyer then asks as the page's htmx does (the
    poller again while the charge is under way, then ``HX-Redirect`` to the confirmation),
    first after ``first_poll`` seconds (the gateway's latency), then every ``POLL_SECONDS``:
    a client as quick as can be, so that the figure is the server's. The page itself asks
    every 0.25 s at first, so a browser sees the confirmation up to that much later. An
    order counts when it is confirmed; its latency runs from the POST to that answer, and
    the polls' CPU is in the flow's.
    """

    POLL_SECONDS = 0.05
    PENDING = re.compile(r"/orders/pending/([A-Za-z0-9_-]+)$")

    def __init__(self, port, duration, master=None, first_poll=0.0):
        self.port = port
        self.first_poll = first_poll
        self.duration = duration
        self.master = master
        self.lock = threading.Lock()
        self.latencies = []
        self.posts = 0
        self.errors = []
        self.non2xx = 0
        self.placed = {}   # order id -> idempotency key
        self.flows = 0
        self.bytes = 0
        self.polls = 0

    def run(self, clients):
        """Run the load for ``duration`` seconds; returns the figures."""
        stop = time.monotonic() + self.duration
        threads = [threading.Thread(target=self.worker, args=(client, sub, stop))
                   for client, sub in clients]
        cpu_before = workers_cpu(self.master) if self.master else 0.0
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        cpu = (workers_cpu(self.master) - cpu_before) if self.master else 0.0
        lat = sorted(self.latencies)
        return {
            "rps": self.posts / elapsed, "requests": self.posts, "orders": len(self.placed),
            "orders_per_s": len(self.placed) / elapsed, "flows_per_s": self.flows / elapsed,
            "p50_ms": percentile(lat, 50) * 1000, "p99_ms": percentile(lat, 99) * 1000,
            "non2xx": self.non2xx, "errors": len(self.errors), "error_samples": self.errors[:5],
            "wire_bytes": self.bytes / max(1, self.posts), "seconds": elapsed,
            # add to cart + review + order (+ the double submits), per order placed
            "cpu_ms_per_order": cpu * 1000 / max(1, len(self.placed)),
            "order_ids": sorted(self.placed),
            "polls_per_order": self.polls / max(1, len(self.placed)),
        }

    def error(self, what):
        """Record an unexpected answer."""
        with self.lock:
            self.errors.append(what)

    def worker(self, client, sub, stop):
        """One connection's loop."""
        n = 0
        while time.monotonic() < stop:
            licenses = str(client.licenses + 1)
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
        location = headers.get("Location", "")
        pending = self.PENDING.search(location) if status == 303 else None
        if pending:
            status, location, body = self.follow(client, location, t0)
        elapsed = time.perf_counter() - t0
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


    def follow(self, client, location, started):
        """Ask the "being processed" page until it answers with the confirmation (a 303);
        (status, location, body) of its last answer."""
        path = urllib.parse.urlsplit(location).path
        time.sleep(self.first_poll)
        while time.perf_counter() - started < 60:
            status, headers, body = client.request("GET", path, headers={"HX-Request": "true"})
            with self.lock:
                self.polls += 1
            redirect = headers.get("HX-Redirect", "")
            if status == 200 and redirect:
                return 303, redirect, body
            if status != 200 or 'id="order-poll"' not in body:
                return status, "", body
            time.sleep(self.POLL_SECONDS)
        return 0, "", "still being processed after 60 s"


def percentile(values, pct):
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return 0.0
    index = max(0, min(len(values) - 1, round(pct / 100 * len(values) + 0.5) - 1))
    return values[index]


def buyers(port, ids, count, url):
    """``count`` logged-in buyers (client, subscription id), each knowing its licenses."""
    subs = ids["order_subscriptions"][:count]
    licenses = current_licenses(url, subs)
    out = []
    for email, sub in zip(ids["order_emails"][:count], subs):
        client = Client(port)
        client.login(email, ids["password"])
        client.request("GET", f"/subscriptions/{sub}/change")  # CSRF token
        client.licenses = licenses[sub]
        out.append((client, sub))
    return out


# --------------------------------------------------------------------------- database

def connect(url):
    """A DB-API connection to the bench database (SQLite file or PostgreSQL URL)."""
    if url.startswith("postgresql"):
        import psycopg2
        return psycopg2.connect(url)
    return sqlite3.connect(url.split("sqlite:///", 1)[1])


def query(url, sql, params=()):
    """All rows of one statement (``?`` placeholders on both engines)."""
    con = connect(url)
    try:
        cur = con.cursor()
        if url.startswith("postgresql"):
            sql = sql.replace("?", "%s")
        cur.execute(sql, params)
        return cur.fetchall()
    finally:
        con.close()


def current_licenses(url, subs):
    """{subscription id: licenses} now."""
    marks = ", ".join("?" for _ in subs)
    return dict(query(url, f"SELECT id, licenses FROM subscription WHERE id IN ({marks})",
                      tuple(subs)))


def charged(url, order_ids):
    """(orders, orders charged to a card) among ``order_ids``."""
    if not order_ids:
        return 0, 0
    total = paid = 0
    for start in range(0, len(order_ids), 500):
        chunk = order_ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        (n, c), = query(url, f'SELECT COUNT(*), COALESCE(SUM(CASE WHEN due_cents > 0 AND '
                             f'payment_reference IS NOT NULL THEN 1 ELSE 0 END), 0) '
                             f'FROM "order" WHERE id IN ({marks})', tuple(chunk))
        total, paid = total + n, paid + c
    return total, paid


def check_invariants(url, placed_total):
    """The database after the order loads: versions, keys, ledger; [] when all hold."""
    problems = []
    rows = query(url, "SELECT s.id, s.version, COUNT(DISTINCT l.order_id) FROM subscription s "
                      "LEFT JOIN order_line l ON l.subscription_id = s.id GROUP BY s.id")
    bad = [r for r in rows if r[1] != 1 + r[2]]
    if bad:
        problems.append(f"{len(bad)} subscriptions whose version != 1 + orders, e.g. "
                        f"(id, version, orders) {bad[:3]}")
    dup = query(url, 'SELECT idempotency_key, COUNT(*) FROM "order" GROUP BY 1 '
                     "HAVING COUNT(*) > 1")
    if dup:
        problems.append(f"{len(dup)} idempotency keys with several orders: {dup[:3]}")
    ledger = query(url, "SELECT a.id, a.balance_cents, COALESCE(SUM(e.amount_cents), 0) "
                        "FROM account a LEFT JOIN ledger_entry e ON e.account_id = a.id "
                        "GROUP BY a.id")
    off = [r for r in ledger if r[1] != r[2]]
    if off:
        problems.append(f"{len(off)} accounts whose balance != ledger sum: {off[:3]}")
    (orders,), = query(url, 'SELECT COUNT(*) FROM "order"')
    if orders != placed_total:
        problems.append(f"{orders} orders in the database, {placed_total} confirmed to "
                        "the clients (lost or phantom orders)")
    (invoices, numbers), = query(url, "SELECT COUNT(*), COUNT(DISTINCT number) FROM invoice")
    if invoices != orders or invoices != numbers:
        problems.append(f"invoices {invoices} (distinct numbers {numbers}) for {orders} orders")
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


# --------------------------------------------------------------------------- legs

READS = [  # name, label (the bare route is measured before each of the others)
    ("summary", "summary partial (htmx)"),
    ("change", "change page"),
    ("dashboard", "dashboard"),
    ("review", "review page"),
    ("licenses", "license page (big account)"),
]
LABELS = dict([("baseline", "baseline (bare route)"), *READS,
               ("order", "place order (instant gateway)"),
               ("latency", f"place order ({LATENCY_MS} ms gateway)")])


def read_targets(port, ids):
    """{endpoint: (path, cookie, headers)} with logged-in sessions."""
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
    return targets


def read_phase(server, port, wrk, ids, args, leg):
    """Every read endpoint, ``runs`` times, each right after a run of the bare route."""
    targets = read_targets(port, ids)
    for name, (path, cookie, headers) in targets.items():  # warm-up
        run_wrk(wrk, port, path, cookie, headers, duration=1, connections=args.connections)
    pairs = {name: [] for name, _ in READS}
    for number in range(1, args.runs + 1):
        for name, _label in READS:
            base = run_wrk(wrk, port, *targets["baseline"], duration=args.duration,
                           connections=args.connections, master=server.pid)
            path, cookie, headers = targets[name]
            one = run_wrk(wrk, port, path, cookie, headers, duration=args.duration,
                          connections=args.connections, master=server.pid)
            pairs[name].append({"baseline": base, "endpoint": one})
            log(f"{leg} run {number} {name}: {one['rps']:.0f} req/s, {one['cpu_ms']:.2f} ms "
                f"CPU/req (bare route {base['cpu_ms']:.2f}), p99 {one['p99_ms']:.1f} ms")
    return pairs


def summarize_reads(pairs):
    """Medians per endpoint; the baseline's over every run beside every endpoint."""
    med = statistics.median
    bases = [p["baseline"] for runs in pairs.values() for p in runs]
    out = {"baseline": {
        "rps": med(b["rps"] for b in bases), "cpu_ms": med(b["cpu_ms"] for b in bases),
        "p50_ms": med(b["p50_ms"] for b in bases), "p99_ms": med(b["p99_ms"] for b in bases),
        "non2xx": sum(b["non2xx"] for b in bases), "errors": sum(b["errors"] for b in bases),
        "cpu_ratio": 1.0, "rps_ratio": 1.0, "wire_bytes": med(b["wire_bytes"] for b in bases),
        "runs": bases}}
    for name, runs in pairs.items():
        ends = [p["endpoint"] for p in runs]
        out[name] = {
            "rps": med(e["rps"] for e in ends), "cpu_ms": med(e["cpu_ms"] for e in ends),
            "p50_ms": med(e["p50_ms"] for e in ends), "p99_ms": med(e["p99_ms"] for e in ends),
            "non2xx": sum(e["non2xx"] for e in ends), "errors": sum(e["errors"] for e in ends),
            "cpu_ratio": med(p["baseline"]["cpu_ms"] / max(1e-9, p["endpoint"]["cpu_ms"])
                             for p in runs),
            "rps_ratio": med(p["endpoint"]["rps"] / p["baseline"]["rps"] for p in runs),
            "wire_bytes": med(e["wire_bytes"] for e in ends),
            "runs": runs,
        }
    return out


def order_phase(server, port, ids, url, args, leg):
    """Orders with the instant gateway: ``runs`` x ``order_duration`` s, 10 buyers."""
    results, rss = [], []
    clients = buyers(port, ids, INSTANT_BUYERS, url)
    for number in range(1, args.runs + 1):
        result = OrderLoad(port, args.order_duration, server.pid).run(clients)
        log(f"{leg} run {number} orders: {result['orders_per_s']:.1f} orders/s, "
            f"p99 {result['p99_ms']:.0f} ms, {result['cpu_ms_per_order']:.1f} ms CPU/order, "
            f"errors {result['errors']} {result['error_samples']}")
        results.append(result)
        rss.append({str(pid): rss_kib(pid) for pid in worker_pids(server.pid)})
    return results, rss


def latency_phase(url, ids, args, settings, leg):
    """Orders with a ``LATENCY_MS`` gateway and ``LATENCY_BUYERS`` buyers (own gunicorn):
    ``runs`` x ``latency_duration`` s, medians as for the instant gateway (one run of 20 s
    had measured 38 to 45 orders/s on the same code within an hour)."""
    port = free_port()
    server = start_gunicorn(port, served_url(url), settings,
                            {"SANDBOX_LATENCY_MS": str(LATENCY_MS)})
    runs = []
    try:
        clients = buyers(port, ids, LATENCY_BUYERS, url)
        for number in range(1, args.runs + 1):
            result = OrderLoad(port, args.latency_duration, server.pid,
                               first_poll=LATENCY_MS / 1000).run(clients)
            log(f"{leg} run {number} orders at {LATENCY_MS} ms: "
                f"{result['orders_per_s']:.1f} orders/s, p99 {result['p99_ms']:.0f} ms, "
                f"{result['cpu_ms_per_order']:.1f} ms CPU/order, errors {result['errors']} "
                f"{result['error_samples']}")
            runs.append(result)
    finally:
        stop_gunicorn(server)
    result = summarize_orders(runs)
    result["order_ids"] = [i for r in runs for i in r["order_ids"]]
    return result


def summarize_orders(results):
    """Medians over an order load's runs."""
    med = statistics.median
    return {
        "rps": med(r["rps"] for r in results), "orders_per_s": med(r["orders_per_s"]
                                                                 for r in results),
        "p50_ms": med(r["p50_ms"] for r in results), "p99_ms": med(r["p99_ms"] for r in results),
        "cpu_ms_per_order": med(r["cpu_ms_per_order"] for r in results),
        "polls_per_order": med(r["polls_per_order"] for r in results),
        "orders": sum(r["orders"] for r in results),
        "seconds": sum(r["seconds"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "non2xx": sum(r["non2xx"] for r in results),
        "error_samples": [s for r in results for s in r["error_samples"]][:5],
        "runs": [{k: v for k, v in r.items() if k != "order_ids"} for r in results],
    }


def served_url(url):
    """The ``DATABASE_URL`` gunicorn gets: PostgreSQL through the portal's connection pool
    (``postgresql+pool://``, the README's production setting), SQLite as it is."""
    if url.startswith("postgresql://"):
        return url.replace("postgresql://", "postgresql+pool://", 1) + (
            "?max_connections=20&stale_timeout=300")
    return url


def engine_leg(engine, url, wrk, args, settings):
    """Seed, (SQLite: count queries in-process), serve, reads, orders, 300 ms orders, checks."""
    leg = engine
    log(f"{leg}: seeding 1,000 accounts, 50,000 users")
    ids = bench_seed.seed(DB_PATH if engine == "sqlite" else url, 1)
    log(f"{leg}: seeded in {ids['seconds']} s")
    placed = 0
    inproc = None
    if engine == "sqlite":
        log("sqlite: counting SQL queries per request in-process")
        inproc = inprocess_measurements(ids)
        placed += 1
    port = free_port()
    server = start_gunicorn(port, served_url(url), settings)
    try:
        reads = summarize_reads(read_phase(server, port, wrk, ids, args, leg))
        order_runs, rss = order_phase(server, port, ids, url, args, leg)
    finally:
        stop_gunicorn(server)
    latency = latency_phase(url, ids, args, settings, leg)
    order_ids = [i for r in order_runs for i in r["order_ids"]] + latency.pop("order_ids")
    placed += len(order_ids)
    total, paid = charged(url, order_ids)
    problems = check_invariants(url, placed)
    orders = summarize_orders(order_runs)
    rss_first, rss_last = sum(rss[0].values()), sum(rss[-1].values())
    out = {
        "engine": engine, "gunicorn": " ".join(settings), "dataset": _dataset(ids),
        "endpoints": reads, "order": orders, "latency": latency,
        "charged_share": paid / total if total else 0.0, "orders_checked": total,
        "orders_charged": paid, "invariant_problems": problems,
        "worker_rss_kib": rss, "rss_growth": (rss_last - rss_first) / rss_first
        if rss_first else 0.0,
    }
    if inproc:
        out["in_process"] = inproc
    log(f"{leg}: {paid} of {total} orders charged a card ({out['charged_share']:.1%}); "
        f"invariants {'hold' if not problems else 'BROKEN'}")
    return out


def _dataset(ids):
    return {k: ids.get(k) for k in ("accounts", "users", "subscriptions", "assignments",
                                    "big_users", "seconds", "disk_bytes", "scale")}


def large_database(scale):
    """The path of the 100x SQLite database, seeded when no copy matches the seed code."""
    digest = hashlib.sha256(f"scale={scale}".encode())
    paths = [os.path.join(HERE, "seed.py"), os.path.join(ROOT, "catalog.toml")]
    migrations = os.path.join(ROOT, "portal", "core", "migrations")
    paths += sorted(os.path.join(migrations, n) for n in os.listdir(migrations)
                    if n.endswith(".py"))
    for path in paths:
        with open(path, "rb") as fh:
            digest.update(fh.read())
    key = digest.hexdigest()[:12]
    prefix = f"bench-large-x{scale}-"
    path = os.path.join(HERE, f"{prefix}{key}.sqlite3")
    meta = path + ".json"
    if os.path.exists(path) and os.path.exists(meta):
        with open(meta) as fh:
            ids = json.load(fh)
        log(f"large: reusing {os.path.relpath(path, ROOT)} (seeded in {ids['seconds']} s, "
            f"{ids['disk_bytes'] / 2**30:.2f} GiB)")
        return path, ids, True
    for name in os.listdir(HERE):  # older copies of this scale, seeded by other code
        if name.startswith(prefix) and not name.startswith(f"{prefix}{key}"):
            os.remove(os.path.join(HERE, name))
    accounts, users, _ = bench_seed.sizes(scale)
    log(f"large: seeding {accounts:,} accounts, {users:,} users into "
        f"{os.path.relpath(path, ROOT)} (kept for the next runs)")
    ids = bench_seed.seed(path, scale)
    with open(meta, "w") as fh:
        json.dump(ids, fh)
    return path, ids, False


def large_leg(wrk, args, small):
    """The read endpoints on the 100x data (SQLite); growth against the small set."""
    path, ids, reused = large_database(args.large_scale)
    url = f"sqlite:///{path}"
    port = free_port()
    server = start_gunicorn(port, url, GUNICORN["sqlite"])
    try:
        reads = summarize_reads(read_phase(server, port, wrk, ids, args, "large"))
    finally:
        stop_gunicorn(server)
    growth = {}
    for name in reads:
        s, l = small["endpoints"][name], reads[name]
        # CPU per request relative to the bare route of the same leg (steadier than raw ms)
        growth[name] = {
            "cpu_ms_small": s["cpu_ms"], "cpu_ms_large": l["cpu_ms"],
            "growth": l["cpu_ms"] / s["cpu_ms"] if s["cpu_ms"] else 0.0,
            "growth_vs_baseline": (l["cpu_ms"] / reads["baseline"]["cpu_ms"])
            / (s["cpu_ms"] / small["endpoints"]["baseline"]["cpu_ms"])
            if s["cpu_ms"] and reads["baseline"]["cpu_ms"] else 0.0,
        }
    return {"engine": "sqlite", "gunicorn": " ".join(GUNICORN["sqlite"]),
            "dataset": dict(_dataset(ids), reused=reused), "endpoints": reads, "growth": growth}


def renewals_leg(args):
    """bench/renewals.py --json, when it exists; its figures, or None."""
    script = os.path.join(HERE, "renewals.py")
    if not os.path.exists(script):
        log("renewals: bench/renewals.py does not exist, skipped")
        return None
    out = os.path.join(HERE, ".renewals.json")
    cmd = [sys.executable, script, "--json", out]
    log("renewals: " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c
                                for c in cmd[1:]))
    proc = subprocess.run(cmd, cwd=ROOT, check=False)
    data = {"returncode": proc.returncode}
    if os.path.exists(out):
        with open(out) as fh:
            data.update(json.load(fh))
        os.remove(out)
    return data


# --------------------------------------------------------------------------- report

def targets(report):
    """Every target with its figure, met or missed."""
    t = TARGETS
    out = []
    for engine in ("sqlite", "postgresql"):
        leg = report["legs"].get(engine)
        if not leg:
            continue
        e = leg["endpoints"]
        name = "SQLite" if engine == "sqlite" else "PostgreSQL"
        out += [
            _target(f"{name}: summary partial CPU/request <= 3x bare route (ratio)",
                    e["summary"]["cpu_ratio"], ">=", t["summary_cpu_ratio"]),
            _target(f"{name}: summary partial p99 <= 25 ms (ms)", e["summary"]["p99_ms"], "<=",
                    t["summary_p99_ms"]),
            _target(f"{name}: change page CPU/request <= 6x (ratio)", e["change"]["cpu_ratio"],
                    ">=", t["change_cpu_ratio"]),
            _target(f"{name}: review page CPU/request <= 6x (ratio)", e["review"]["cpu_ratio"],
                    ">=", t["review_cpu_ratio"]),
            _target(f"{name}: orders/s, {LATENCY_MS} ms gateway, {LATENCY_BUYERS} buyers",
                    leg["latency"]["orders_per_s"], ">=", t["latency_orders_per_s"][engine]),
            _target(f"{name}: order errors (both loads)",
                    leg["order"]["errors"] + leg["latency"]["errors"], "<=", 0),
            _target(f"{name}: invariants broken", len(leg["invariant_problems"]), "<=", 0),
            _target(f"{name}: share of orders charged to a card", leg["charged_share"], ">=",
                    t["charged_share"]),
            _target(f"{name}: worker RSS growth over the order runs", leg["rss_growth"], "<=",
                    t["rss_growth"]),
        ]
    large = report["legs"].get("large")
    if large:
        for name, g in large["growth"].items():
            if name == "baseline":
                continue
            limit = t["licenses_growth"] if name == "licenses" else t["growth"]
            # In units of each leg's bare route, which reads no data: the machine's speed
            # drifts between legs minutes apart (the bare route alone once cost 12 % more in
            # the 100x leg), and dividing by it leaves the growth the data causes.
            out.append(_target(f"{large['dataset']['scale']}x data: {LABELS[name]} "
                               "CPU/request growth (bare route as the unit)",
                               g["growth_vs_baseline"], "<=", limit))
    renewals = report.get("renewals")
    if renewals:
        out.append(_target("renewals: bench/renewals.py exit status", renewals["returncode"],
                           "<=", 0))
    sqlite_leg = report["legs"].get("sqlite")
    if sqlite_leg:
        inproc = sqlite_leg["in_process"]
        out += [
            _target("summary partial <= 4 KB (bytes)", inproc["summary"]["body_bytes"], "<=",
                    t["summary_bytes"]),
            _target("summary partial <= 3 SQL queries", inproc["summary"]["queries"], "<=",
                    t["summary_queries"]),
        ]
    out.append(_target("all JavaScript <= 20 KB gzipped (bytes)", report["js_gzip_bytes"],
                       "<=", t["js_gzip_bytes"]))
    return out


def _target(name, value, op, limit):
    """One target with its figure and whether it is met."""
    met = value >= limit if op == ">=" else value <= limit
    return {"name": name, "value": round(value, 4), "op": op, "limit": limit, "met": met}


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


def machine():
    """What the figures were measured on."""
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    return {"cpus": os.cpu_count(), "cpu": _cpu_model(), "platform": platform.platform(),
            "python": platform.python_version(), "load_average": " ".join(load)}


def endpoint_rows(leg):
    """Table rows: (label, req/s, CPU ms/req, CPU ratio, p50, p99, non-2xx + errors)."""
    rows = []
    for name in ["baseline"] + [n for n, _ in READS]:
        e = leg["endpoints"][name]
        rows.append((LABELS[name], e["rps"], e["cpu_ms"], e["cpu_ratio"], e["p50_ms"],
                     e["p99_ms"], e["non2xx"] + e["errors"]))
    if "order" in leg:
        o, lat = leg["order"], leg["latency"]
        rows.append((LABELS["order"], o["orders_per_s"], o["cpu_ms_per_order"], None,
                     o["p50_ms"], o["p99_ms"], o["errors"]))
        rows.append((LABELS["latency"], lat["orders_per_s"], lat["cpu_ms_per_order"], None,
                     lat["p50_ms"], lat["p99_ms"], lat["errors"]))
    return rows


def markdown(report):
    """The "Last results" section of bench/README.md."""
    m = report["machine"]
    s = report["settings"]
    lines = [
        f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['platform']}, Python {m['python']}; "
        f"load average at the end {m['load_average']}. `{s['command']}`, "
        f"{report['generated']}, {s['runs']} run(s) of {s['duration_s']} s per read endpoint "
        f"(each after a run of the bare route) with {s['connections']} connections, "
        f"{s['runs']} x {s['order_duration_s']} s of orders with {INSTANT_BUYERS} buyers and an "
        f"instant gateway, {s['runs']} x {s['latency_duration_s']} s with {LATENCY_BUYERS} "
        f"buyers and a {LATENCY_MS} ms gateway. Medians over the runs. Total {report['seconds'] / 60:.1f} min.",
        "", "![CPU per request and p99 per endpoint](chart.svg)", ""]
    for key in ("sqlite", "postgresql", "large"):
        leg = report["legs"].get(key)
        if not leg:
            continue
        d = leg["dataset"]
        title = {"sqlite": "SQLite", "postgresql": "PostgreSQL",
                 "large": f"SQLite, {d['scale']}x data"}[key]
        lines += [f"**{title}** (`gunicorn {leg['gunicorn']}`; {d['accounts']:,} accounts, "
                  f"{d['users']:,} users, big account {d['big_users']:,} users; seeded in "
                  f"{d['seconds']} s" + (f", {d['disk_bytes'] / 2**20:,.0f} MiB" if
                                         d.get("disk_bytes") else "")
                  + (", reused from an earlier run" if d.get("reused") else "") + ")", "",
                  "| endpoint | req/s | server CPU ms/request | bare route ÷ endpoint CPU "
                  "| p50 ms | p99 ms | errors |", "|---|---:|---:|---:|---:|---:|---:|"]
        for label, rps, cpu, ratio, p50, p99, errors in endpoint_rows(leg):
            unit = " orders/s" if label.startswith("place order") else ""
            per = " (per add-review-order flow)" if unit else ""
            lines.append(f"| {label} | {rps:,.1f}{unit} | {cpu:.2f}{per} | "
                         f"{'' if ratio is None else f'{ratio:.3f}'} | {p50:.1f} | {p99:.1f} | "
                         f"{errors} |")
        if "order" in leg:
            lines += ["", f"Orders charged to a card: {leg['orders_charged']:,} of "
                          f"{leg['orders_checked']:,} ({leg['charged_share']:.1%}). Invariants "
                          + ("hold." if not leg["invariant_problems"] else
                             "BROKEN: " + "; ".join(leg["invariant_problems"]))
                          + f" Worker RSS over the order runs {leg['rss_growth'] * 100:+.1f} %."]
        if key == "large":
            lines += ["", "Growth of the server CPU per request, 100x data ÷ small data, "
                          "with each leg's bare route as the unit (the targets'; raw in "
                          "brackets): " + ", ".join(
                              f"{LABELS[n].split(' (')[0]} {g['growth_vs_baseline']:.2f} "
                              f"({g['growth']:.2f})"
                              for n, g in leg["growth"].items()) + "."]
        lines.append("")
    renewals = report.get("renewals")
    if renewals:
        lines += ["**Renewals** (`bench/renewals.py`): " + ", ".join(
            f"{k} {v}" for k, v in renewals.items() if not isinstance(v, (dict, list))), ""]
    lines += ["| target | figure | |", "|---|---:|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['name']} {t['op']} {t['limit']} | {t['value']} | "
                     f"{'met' if t['met'] else '**missed**'} |")
    return "\n".join(lines) + "\n"


def update_readme(report):
    """Replace the generated section of bench/README.md."""
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    with open(README) as fh:
        text = fh.read()
    if start not in text:
        return
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    with open(README, "w") as fh:
        fh.write(head + start + "\n" + markdown(report) + end + tail)


def chart(report):
    """bench/chart.svg: server CPU per request and p99 per endpoint, one bar per leg."""
    legs = [(k, c, n) for k, c, n in (("sqlite", "#2b6cb0", "SQLite"),
                                      ("postgresql", "#c05621", "PostgreSQL"),
                                      ("large", "#68a063", "SQLite, 100x data"))
            if report["legs"].get(k)]
    names = ["baseline"] + [n for n, _ in READS]
    panels = [("server CPU per request (ms)", "cpu_ms"), ("p99 latency (ms, 10 connections)",
                                                          "p99_ms")]
    row_h, bar_h = 16 * len(legs) + 14, 14
    label_w, panel_w, gap = 190, 300, 60
    height = 70 + row_h * len(names) + 30
    width = label_w + 2 * panel_w + gap + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="#fff"/>']
    x_legend = label_w
    for key, color, title in legs:
        out.append(f'<rect x="{x_legend}" y="10" width="12" height="12" fill="{color}"/>'
                   f'<text x="{x_legend + 16}" y="21">{title}</text>')
        x_legend += 16 + 8 * len(title) + 20
    for index, (title, field) in enumerate(panels):
        x0 = label_w + index * (panel_w + gap)
        top = max([report["legs"][k]["endpoints"][n][field] for k, _, _ in legs
                   for n in names] + [1e-9])
        out.append(f'<text x="{x0}" y="50" font-weight="bold">{title}</text>')
        if field == "p99_ms":
            limit = TARGETS["summary_p99_ms"]
            if limit <= top:
                lx = x0 + panel_w * limit / top
                out.append(f'<line x1="{lx:.1f}" y1="58" x2="{lx:.1f}" y2="{height - 25}" '
                           'stroke="#999" stroke-dasharray="4 3"/>'
                           f'<text x="{lx + 3:.1f}" y="{height - 12}" fill="#666">25 ms</text>')
        for row, name in enumerate(names):
            y = 62 + row * row_h
            if index == 0:
                out.append(f'<text x="{label_w - 8}" y="{y + row_h / 2 + 2}" '
                           f'text-anchor="end">{LABELS[name]}</text>')
            for j, (key, color, _title) in enumerate(legs):
                value = report["legs"][key]["endpoints"][name][field]
                w = max(1.0, panel_w * value / top)
                by = y + j * 16
                out.append(f'<rect x="{x0}" y="{by}" width="{w:.1f}" height="{bar_h}" '
                           f'fill="{color}"/><text x="{x0 + w + 4:.1f}" y="{by + 11}" '
                           f'font-size="10">{value:.2f}</text>')
    out.append("</svg>")
    with open(CHART, "w") as fh:
        fh.write("\n".join(out) + "\n")


def print_report(report):
    """One table per leg, then the targets."""
    for key in ("sqlite", "postgresql", "large"):
        leg = report["legs"].get(key)
        if not leg:
            continue
        print(f"\n{key} (gunicorn {leg['gunicorn']}, {leg['dataset']['users']:,} users)")
        head = (f"{'endpoint':34} {'req/s':>9} {'CPU ms':>7} {'ratio':>6} {'p50 ms':>7} "
                f"{'p99 ms':>7} {'errors':>6}")
        print(head)
        print("-" * len(head))
        for label, rps, cpu, ratio, p50, p99, errors in endpoint_rows(leg):
            print(f"{label:34} {rps:9.1f} {cpu:7.2f} "
                  f"{'' if ratio is None else f'{ratio:.3f}':>6} {p50:7.1f} {p99:7.1f} "
                  f"{errors:6d}")
        if "order" in leg:
            print(f"orders charged to a card: {leg['orders_charged']} of "
                  f"{leg['orders_checked']} ({leg['charged_share']:.1%}); invariants "
                  + ("hold" if not leg["invariant_problems"] else
                     "BROKEN: " + "; ".join(leg["invariant_problems"])))
        if key == "large":
            print("CPU/request growth vs small data (bare route as the unit): " + ", ".join(
                f"{n} {g['growth_vs_baseline']:.2f}" for n, g in leg["growth"].items()))
    if report.get("renewals"):
        print(f"\nrenewals: {report['renewals']}")
    print("\ntargets:")
    for t in report["targets"]:
        print(f"  [{'met' if t['met'] else 'MISSED'}] {t['name']}: {t['value']} "
              f"({t['op']} {t['limit']})")
    print(f"\nwritten: bench/results.json, bench/chart.svg, bench/README.md "
          f"({report['seconds'] / 60:.1f} min)")


# --------------------------------------------------------------------------- main

def main():
    """Every leg, the report, the checks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=4, help="s per read endpoint and run")
    parser.add_argument("--order-duration", type=int, default=10, help="s of orders per run")
    parser.add_argument("--latency-duration", type=int, default=12,
                        help=f"s of orders with the {LATENCY_MS} ms gateway, per run")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--large-scale", type=int, default=None,
                        help=f"the growth leg's data, x the small set ({LARGE_SCALE})")
    parser.add_argument("--skip", default="", help="legs to leave out: "
                        "sqlite,postgresql,large,renewals")
    parser.add_argument("--quick", action="store_true",
                        help="1 run, 2 s per endpoint, 5 s of orders, 10x data "
                        "unless --large-scale says otherwise")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.duration, args.order_duration = 1, 2, 5
        args.latency_duration = 5
        args.large_scale = args.large_scale or 10
    args.large_scale = args.large_scale or LARGE_SCALE
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    started = time.monotonic()
    wrk = ensure_wrk()
    report = {"generated": time.strftime("%Y-%m-%d %H:%M %Z"), "legs": {}}
    if "sqlite" not in skip or "large" not in skip:
        report["legs"]["sqlite"] = engine_leg("sqlite", f"sqlite:///{DB_PATH}", wrk, args,
                                              GUNICORN["sqlite"])
    if "postgresql" not in skip:
        import pg
        if not pg.available() and os.geteuid() == 0 and shutil.which("apt-get"):
            log("PostgreSQL is missing: apt-get install postgresql")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
            subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=False,
                           env=env)
        if not pg.available():
            log("postgresql: not installed (Debian: apt-get install postgresql), skipped")
        else:
            with pg.cluster() as url:
                report["legs"]["postgresql"] = engine_leg("postgresql", url, wrk, args,
                                                          GUNICORN["postgresql"])
    if "large" not in skip:
        report["legs"]["large"] = large_leg(wrk, args, report["legs"]["sqlite"])
    if "renewals" not in skip:
        report["renewals"] = renewals_leg(args)
    report["js_gzip_bytes"], report["js_files"] = js_gzip_bytes()
    report["machine"] = machine()
    report["settings"] = {
        "command": "make bench" if sys.argv[1:] == [] else "bench/run.py " + " ".join(
            sys.argv[1:]),
        "runs": args.runs, "duration_s": args.duration, "order_duration_s": args.order_duration,
        "latency_duration_s": args.latency_duration, "connections": args.connections,
        "gunicorn": {k: " ".join(v) for k, v in GUNICORN.items()},
        "load_generator": "wrk -t2 (reads); Python threads + http.client (orders)",
        "cpu": "gunicorn workers' utime+stime from /proc/<pid>/stat over the run, "
               "divided by the requests answered"}
    report["seconds"] = round(time.monotonic() - started, 1)
    report["targets"] = targets(report)
    with open(RESULTS, "w") as fh:
        json.dump(report, fh, indent=2)
    chart(report)
    update_readme(report)
    print_report(report)
    for key in ("sqlite", "postgresql"):
        leg = report["legs"].get(key)
        if leg and leg["invariant_problems"]:
            fail(f"{key}: database invariants broken after the order loads:\n  "
                 + "\n  ".join(leg["invariant_problems"]))
        if leg and leg["charged_share"] < TARGETS["charged_share"]:
            fail(f"{key}: only {leg['charged_share']:.1%} of the orders charged a card "
                 f"(at least {TARGETS['charged_share']:.0%}): the order load does not measure "
                 "the charge")
    missed = [t for t in report["targets"] if not t["met"]]
    if missed and args.strict:
        fail("targets missed: " + ", ".join(t["name"] for t in missed))


if __name__ == "__main__":
    main()
