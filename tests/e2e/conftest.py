"""Browser suite: the real server (gunicorn) on a loopback port, driven by Debian's Chromium.

The server is started as an operator would: ``flask db upgrade``, ``catalog load`` and
``demo seed`` write a temporary SQLite database, then gunicorn serves ``wsgi:app``. The
seeded database is built once per session and copied for every ``fresh_server``, so a
scenario that places orders never sees another scenario's data.

Chromium missing: the tests are skipped with one line saying how to install it, except in CI
(``CI=true``), where a missing browser fails the run.

Knobs: ``PORTAL_E2E_CHROMIUM`` (browser path, default /usr/bin/chromium);
``PORTAL_E2E_ALL_LANGUAGES=1`` runs scenarios 2-7 in English too (scenario 1 always runs in
both). Screenshots of every step land in screenshots/ (git-ignored). ``-m "not browser"``
leaves the suite out.
"""
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PORTAL_E2E_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "screenshots"
FIXED_TODAY = "2026-11-26"
PASSWORD = "demo1234"
GIULIA = "giulia.rossi@example.it"
MARCO = "marco.verdi@example.it"
ANNA = "anna.bianchi@example.com"
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
INSTALL_HINT = ("Chromium not found at {path}; install it with `sudo apt-get install chromium` "
                "(Debian/Ubuntu; .ci/run does it in CI).")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-quic"]
#: Playwright waits this long (ms) for an element or a navigation before failing.
TIMEOUT_MS = 6000
#: axe impacts that fail a page.
BLOCKING_IMPACTS = ("serious", "critical")
#: Languages of the scenarios. Italian (the default locale) runs everything; English runs the
#: whole article (scenario 1, with mouse, keyboard and without JavaScript) unless
#: PORTAL_E2E_ALL_LANGUAGES=1 asks for every scenario in both, to keep the suite quick.
ALL_LANGUAGES = os.environ.get("PORTAL_E2E_ALL_LANGUAGES", "").lower() in ("1", "true", "yes")
SCENARIO_LANGS = ["it", "en"] if ALL_LANGUAGES else ["it"]
ARTICLE_LANGS = ["it", "en"]


try:
    import playwright.sync_api  # noqa: F401
    PLAYWRIGHT_MISSING = None
except ImportError as error:
    PLAYWRIGHT_MISSING = (f"Playwright for Python is missing ({error}): browser tests skipped. "
                          "Install the test extras with `.venv/bin/pip install -e '.[test]'`.")
    # The test modules import Playwright: do not even collect them.
    collect_ignore_glob = ["test_*.py", "helpers.py"]


def chromium_missing():
    """The one-line explanation when Chromium is not installed, else None."""
    if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return None
    return INSTALL_HINT.format(path=CHROMIUM)


_SKIPPED = []  # (how many browser tests, why) when they were skipped as a whole


def pytest_collection_modifyitems(config, items):
    """Outside CI, without Chromium, set the browser tests aside and say so in one line.

    (Skipping each test would print one line per test; in CI they stay and fail.)
    """
    reason = chromium_missing()
    if not reason or IN_CI:
        return
    here = Path(__file__).parent
    browser_items = [item for item in items if here in Path(str(item.path)).parents]
    if browser_items:
        items[:] = [item for item in items if item not in browser_items]
        config.hook.pytest_deselected(items=browser_items)
        _SKIPPED.append((len(browser_items), reason))


def pytest_terminal_summary(terminalreporter):
    """Never silent: one line when the browser suite did not run."""
    if PLAYWRIGHT_MISSING:
        prefix = "ERROR (CI=true): " if IN_CI else "SKIPPED: "
        terminalreporter.write_line(prefix + PLAYWRIGHT_MISSING, yellow=not IN_CI, red=IN_CI)
    for count, reason in _SKIPPED:
        terminalreporter.write_line(f"SKIPPED {count} browser tests (tests/e2e): {reason}",
                                    yellow=True)


def pytest_sessionfinish(session, exitstatus):
    """In CI a missing Playwright fails the run instead of skipping the browser suite."""
    if PLAYWRIGHT_MISSING and IN_CI and exitstatus == 0:
        session.exitstatus = 1


def pytest_configure(config):
    """Register the ``browser`` marker (``-m "not browser"`` runs the fast suite only)."""
    config.addinivalue_line(
        "markers", "browser: end-to-end test in a real Chromium against a real server")


# --------------------------------------------------------------------------- server

class Server:
    """A running gunicorn serving the portal on a temporary database."""

    def __init__(self, workdir, database, env=None):
        self.workdir = Path(workdir)
        self.database = Path(database)
        self.env = dict(env or {})
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "gunicorn.log"
        self.process = None

    def start(self, timeout=20):
        """Start gunicorn and wait until the login page answers."""
        env = _portal_env(self.workdir, self.database)
        env["PORTAL_PORTAL_URL"] = self.url  # the links in the emails it writes
        env.update(self.env)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "-w", "2",
             "--graceful-timeout", "2", "--preload", "--chdir", str(ROOT), "wsgi:app"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/login", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"gunicorn did not answer on {self.url} within {timeout}s:\n"
                    f"{self.log_tail()}")

    def stop(self):
        """Stop gunicorn at once (SIGQUIT: no graceful wait, the test is over)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def log_tail(self, lines=40):
        """The end of the server log, shown when a test fails."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port():
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _portal_env(workdir, database):
    """The environment of an operator's shell pointing the portal at ``database``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({
        "PORTAL_DATABASE_URL": f"sqlite:///{database}",
        "PORTAL_FIXED_TODAY": FIXED_TODAY,
        # A private instance folder: a developer's instance/config.py must not leak in.
        "PORTAL_INSTANCE_PATH": str(workdir),
        "PORTAL_SECRET_KEY": "e2e-" + secrets.token_hex(16),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


@pytest.fixture(scope="session")
def seeded_database(tmp_path_factory):
    """The demo database, written once by the operator's commands."""
    workdir = tmp_path_factory.mktemp("portal-seed")
    database = workdir / "portal.sqlite3"
    flask = str(Path(sys.executable).parent / "flask")
    env = _portal_env(workdir, database)
    for command in (["db", "upgrade"], ["catalog", "load"], ["demo", "seed"]):
        done = subprocess.run([flask, "--app", "portal", *command], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (
            f"flask {' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return database


def start_copy(seeded_database, workdir, env=None):
    """A server on a private copy of the seeded database (``env``: more settings)."""
    database = Path(workdir) / "portal.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(seeded_database) + suffix)
        if source.exists():
            shutil.copyfile(source, str(database) + suffix)
    return Server(workdir, database, env).start()


@pytest.fixture(scope="session")
def server(seeded_database, tmp_path_factory):
    """One server for the scenarios that only read (its data may drift: logins, sessions)."""
    running = start_copy(seeded_database, tmp_path_factory.mktemp("portal-shared"))
    yield running
    running.stop()


@pytest.fixture
def fresh_server(seeded_database, tmp_path, request):
    """A server on a pristine demo database, for a scenario that changes data."""
    running = start_copy(seeded_database, tmp_path)
    yield running
    running.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"--- server log ({running.url}) ---\n{running.log_tail()}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can print the server log on failure."""
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report


# --------------------------------------------------------------------------- browser

def _unavailable(reason):
    """Fail in CI, skip elsewhere: never a silent pass."""
    if IN_CI:
        pytest.fail("CI=true and the browser suite cannot run: " + reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def browser_available():
    """Checked before any server starts: skip (or fail in CI) without Chromium."""
    reason = chromium_missing()
    if reason:
        _unavailable(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def chromium(browser_available):
    """Debian's Chromium, headless, launched once for the session."""
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=TIMEOUT_MS)
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=LAUNCH_ARGS)
    except Exception:
        manager.stop()
        raise
    yield browser
    browser.close()
    manager.stop()


#: Pages opened without JavaScript -> a JavaScript-enabled twin context used only for axe.
_AXE_TWINS = weakref.WeakKeyDictionary()


@pytest.fixture
def open_page(chromium):
    """``open_page(base_url, lang="it", javascript=True)``: a page in a new browser context.

    The context's locale sets Accept-Language, which is how the portal picks the language
    for a user without a saved preference (all demo users).
    """
    contexts = []

    def factory(base_url, lang="it", javascript=True):
        locale = {"it": "it-IT", "en": "en-US"}[lang]
        context = chromium.new_context(locale=locale, base_url=base_url,
                                       java_script_enabled=javascript,
                                       viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.portal_lang = lang
        if not javascript:
            twin = chromium.new_context(locale=locale, base_url=base_url,
                                        viewport={"width": 1280, "height": 900})
            twin.set_default_timeout(TIMEOUT_MS)
            contexts.append(twin)
            _AXE_TWINS[page] = twin.new_page()
        return page

    yield factory
    for context in contexts:
        context.close()


# --------------------------------------------------------------------------- page checks

#: Words that only the English catalog produces: one of them on an Italian page is a label
#: that fell back to its msgid (or was hard-coded).
ENGLISH_ONLY = [
    "Billing Center", "Subscription", "Subscriptions", "Change subscription", "Subscribe now",
    "Order summary", "Complete transaction", "Add to cart", "Edit order", "Place order",
    "License", "Licenses", "license", "licenses", "Assign licenses", "Monthly", "Annual",
    "Total due", "Credit balance", "Billing frequency", "Billing period", "Log in", "Log out",
    "Cart", "Invoice", "Invoices", "Payment", "Card number", "Options", "Language",
    "Free trial", "Next renewal", "Support", "Remove a license", "Add a license", "Plan",
    "Skip to content", "Change language", "assigned", "Price", "per license",
]
#: And the other way round: Italian labels on an English page.
ITALIAN_ONLY = [
    "Centro fatturazione", "Modifica sottoscrizione", "Abbonati ora", "Riepilogo ordine",
    "Completa la transazione", "Aggiungi al carrello", "Modifica ordine", "Effettua l'ordine",
    "Licenze", "licenze", "Mensile", "Annuale", "Carrello", "Fatture", "Assistenza",
    "Rimuovi una licenza", "Aggiungi una licenza", "Totale dovuto",
]

#: Every piece of text a user sees or hears, skipping elements marked as another language
#: (the language switcher names "English" in English on purpose).
_PAGE_TEXT_JS = """
(lang) => {
  const parts = [document.title];
  const other = (el) => {
    const tagged = el.closest('[lang]');
    return tagged && tagged !== document.documentElement
      && !tagged.getAttribute('lang').toLowerCase().startsWith(lang);
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!el || other(el) || ['SCRIPT', 'STYLE', 'TEMPLATE'].includes(el.tagName)) continue;
    parts.push(node.nodeValue);
  }
  for (const el of document.body.querySelectorAll('[aria-label],[title],[placeholder],[alt],[aria-description]')) {
    if (other(el)) continue;
    for (const name of ['aria-label', 'title', 'placeholder', 'alt', 'aria-description']) {
      if (el.hasAttribute(name)) parts.push(el.getAttribute(name));
    }
  }
  for (const el of document.body.querySelectorAll('input[type=submit][value],input[type=button][value]')) {
    if (!other(el)) parts.push(el.value);
  }
  return parts.join(' \\n ').replace(/[ \\t]+/g, ' ');
}
"""


def page_text(page):
    """All user-visible and assistive-technology text of the page, in the page's language."""
    return page.evaluate(_PAGE_TEXT_JS, getattr(page, "portal_lang", "it"))


def foreign_words(page, lang):
    """Labels of the other language found on the page (empty when the language is right)."""
    text = page_text(page)
    words = ENGLISH_ONLY if lang == "it" else ITALIAN_ONLY
    return sorted({w for w in words if re.search(r"(?<!\w)" + re.escape(w) + r"(?!\w)", text)})


def assert_language(page, lang):
    """Fail when a label of the other language shows on the page."""
    found = foreign_words(page, lang)
    assert not found, (f"{page.url}: the {lang!r} page shows labels of the other language: "
                       f"{found}")


def axe_violations(page):
    """axe-core's serious and critical violations on the page, one readable line each."""
    from axe_playwright_python.sync_playwright import Axe
    target = _AXE_TWINS.get(page)
    if target is not None:
        _load_twin(page, target)
    results = Axe().run(target or page)
    lines = []
    for violation in results.response["violations"]:
        if violation.get("impact") in BLOCKING_IMPACTS:
            nodes = "; ".join(" ".join(map(str, n.get("target", [])))
                              for n in violation["nodes"][:5])
            lines.append(f"{violation['impact']}: {violation['id']} - {violation['help']} "
                         f"[{nodes}]")
    return lines


def _load_twin(page, twin):
    """Show ``page``'s current DOM in a JavaScript-enabled twin (axe needs timers to run).

    The page's own scripts are blocked there, so the twin looks like the page without
    JavaScript; stylesheets and images load from the server as usual.
    """
    html = page.content()
    url = page.url

    def serve(route):
        if route.request.url == url and route.request.resource_type == "document":
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
        elif route.request.resource_type == "script":
            route.abort()
        else:
            route.continue_()

    twin.route("**/*", serve)
    try:
        twin.goto(url)
    finally:
        twin.unroute("**/*", serve)


def check_page(page, name, lang=None):
    """Screenshot to screenshots/<name>.png, run axe (no serious/critical violation) and,
    when ``lang`` is given, check that no label of the other language is on the page."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    violations = axe_violations(page)
    if violations:
        print(f"axe on {name} ({page.url}):\n  " + "\n  ".join(violations))
    assert not violations, f"axe found on {name} ({page.url}):\n  " + "\n  ".join(violations)
    if lang:
        assert_language(page, lang)
