"""``make screenshots``: every page and state in it, en, de and the pseudo-locale, at 1280 px
and 390 px, into screenshots/ with an index.html, for translators and reviewers.

Runs the portal as an operator would (a temporary demo database, gunicorn on a loopback
port, PORTAL_PSEUDO_LOCALE=1) and drives Debian's Chromium with Playwright. A page wider
than its viewport (sideways scrolling) is reported and makes the command fail.
``SCREENSHOT_LANGS="it en"`` shoots fewer languages, ``SCREENSHOT_PAGES="payment-methods"``
fewer pages.
"""
import html
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "screenshots"
CHROMIUM = os.environ.get("PORTAL_E2E_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-quic"]
LANGS = os.environ.get("SCREENSHOT_LANGS", "it en de qps").split()
#: Only these pages (names as in ``walk``), e.g. SCREENSHOT_PAGES="payment-methods profile".
ONLY = set(os.environ.get("SCREENSHOT_PAGES", "").split())
WIDTHS = [(1280, 800), (390, 844)]
GIULIA, ANNA, PASSWORD = "giulia.rossi@example.it", "anna.bianchi@example.com", "demo1234"
DECLINED = "4000 0000 0000 0002"


def free_port():
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_portal(workdir):
    """A seeded demo database and gunicorn serving it; returns (process, base url)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(PORTAL_DATABASE_URL=f"sqlite:///{workdir}/portal.sqlite3",
               PORTAL_INSTANCE_PATH=str(workdir), PORTAL_FIXED_TODAY="2026-11-26",
               PORTAL_SECRET_KEY="screenshots-" + os.urandom(8).hex(), PORTAL_PSEUDO_LOCALE="1")
    flask = [sys.executable, "-m", "flask", "--app", "portal"]
    for command in (["db", "upgrade"], ["catalog", "load"], ["demo", "seed"]):
        subprocess.run(flask + command, cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}",
                                "-w", "2", "wsgi:app"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/login", timeout=1)
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the portal did not start")


def login(page, email):
    """Log in through the form."""
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_load_state()


def set_language(page, lang):
    """Choose the language with the header's switcher (kept in the session)."""
    if page.locator("#locale-select").input_value() == lang:
        return
    with page.expect_navigation():
        page.select_option("#locale-select", lang)


def walk(page):
    """(name, action) for every page and state; each action leaves the page to shoot."""
    def goto(path):
        return lambda: page.goto(path)

    def change_valid():
        page.goto("/subscriptions/1/change?plan=webinar-pro&licenses=8&frequency=annual")

    def change_invalid():
        page.goto("/subscriptions/1/change?plan=webinar-pro&licenses=0&frequency=annual")

    def review_errors():
        change_valid()
        page.locator("[data-order-button]").click()
        page.wait_for_url("**/checkout")
        page.fill("#card_number", "1234")
        page.locator("#place-order").click()
        page.wait_for_load_state()

    def review_declined():
        page.fill("#card_holder", "Giulia Rossi")
        page.fill("#card_number", DECLINED)
        page.fill("#card_expiry", "12/30")
        page.fill("#card_cvc", "123")
        page.locator("#place-order").click()
        page.wait_for_load_state()

    def confirmation():
        page.fill("#card_holder", "Giulia Rossi")
        page.fill("#card_number", "4242 4242 4242 4242")
        page.fill("#card_expiry", "12/30")
        page.fill("#card_cvc", "123")
        page.locator("#place-order").click()
        page.wait_for_url("**/orders/*")

    return [
        ("dashboard", goto("/")),
        ("change", goto("/subscriptions/1/change")),
        ("change-valid", change_valid),
        ("change-invalid", change_invalid),
        ("subscribe-trial", goto("/subscriptions/2/change")),
        ("review-card-errors", review_errors),
        ("review-declined", review_declined),
        ("confirmation", confirmation),
        ("licenses", goto("/subscriptions/1/licenses")),
        ("my-licenses", goto("/my-licenses")),
        ("cart", goto("/cart")),
        ("invoices", goto("/invoices")),
        ("billing-details", goto("/billing-details")),
        ("payment-methods", goto("/payment-methods")),
        ("activity", goto("/activity")),
        ("support", goto("/support")),
        ("profile", goto("/profile")),
        ("mail-sent", goto("/dev/mail/")),
        ("error-404", goto("/no-such-page")),
        ("error-403-other-account", goto("/subscriptions/3/change")),
    ]


def main():
    """Shoot every page in every language and width; write the index; fail on overflow."""
    OUT.mkdir(exist_ok=True)
    rows, too_wide = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for lang in LANGS:
            for width, height in WIDTHS:
                # a fresh database each time: the walk places an order
                process, url = start_portal(Path(workdir) / f"{lang}-{width}")
                try:
                    with sync_playwright() as playwright:
                        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                             args=LAUNCH_ARGS)
                        context = browser.new_context(base_url=url, locale="it-IT",
                                                      viewport={"width": width, "height": height})
                        page = context.new_page()
                        login(page, GIULIA)
                        set_language(page, lang)
                        for name, action in walk(page):
                            if ONLY and name not in ONLY:
                                continue  # (a review step needs the steps before it)
                            action()
                            page.wait_for_load_state("networkidle")
                            file = f"{lang}-{width}-{name}.png"
                            page.screenshot(path=str(OUT / file), full_page=True)
                            scroll = page.evaluate("document.documentElement.scrollWidth")
                            if scroll > width:
                                too_wide.append(f"{file}: {scroll} px wide")
                            rows.append((lang, width, name, file))
                        browser.close()
                finally:
                    process.terminate()
                    process.wait()
                print(f"{lang} {width} px: done", flush=True)
    write_index(rows, too_wide)
    print(f"{len(rows)} screenshots in {OUT}/index.html")
    if too_wide:
        raise SystemExit("pages wider than their viewport:\n  " + "\n  ".join(too_wide))


def write_index(rows, too_wide):
    """screenshots/index.html: one row per page, one column per language and width."""
    names = list(dict.fromkeys(name for _l, _w, name, _f in rows))
    columns = [(lang, width) for lang in LANGS for width, _h in WIDTHS]
    files = {(lang, width, name): file for lang, width, name, file in rows}
    head = "".join(f"<th>{lang} · {width}px</th>" for lang, width in columns)
    body = []
    for name in names:
        cells = "".join(
            f'<td><a href="{files[(lang, width, name)]}"><img loading="lazy" width="160" '
            f'src="{files[(lang, width, name)]}" alt="{lang} {width}px {name}"></a></td>'
            if (lang, width, name) in files else "<td>—</td>" for lang, width in columns)
        body.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    warning = "".join(f"<li>{html.escape(line)}</li>" for line in too_wide)
    (OUT / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>Centro fatturazione: screenshots</title>"
        "<style>body{font-family:system-ui}td,th{vertical-align:top;padding:4px}"
        "img{border:1px solid #ccc}</style><h1>Centro fatturazione: every page</h1>"
        + (f"<p>Wider than the viewport:</p><ul>{warning}</ul>" if warning else "")
        + f"<table><tr><th></th>{head}</tr>{''.join(body)}</table>", encoding="utf-8")


if __name__ == "__main__":
    main()
