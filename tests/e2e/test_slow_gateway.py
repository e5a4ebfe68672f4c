"""A payment provider that takes its time: the order is charged in the background and the
browser follows it on the "being processed" page (htmx polling, or a refresh without
JavaScript) until the confirmation."""
import re

import pytest
from playwright.sync_api import expect

from .conftest import start_copy
from .helpers import SUCCESS_CARD
from .test_article import change_plan_licenses_frequency
from .test_phone_and_focus import logged_in

pytestmark = pytest.mark.browser


@pytest.fixture
def slow_server(seeded_database, tmp_path):
    """A server whose sandbox gateway takes two seconds per charge."""
    running = start_copy(seeded_database, tmp_path, {"PORTAL_SANDBOX_LATENCY_MS": "2000"})
    yield running
    running.stop()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_a_slow_payment_shows_the_order_being_processed_then_its_confirmation(
        slow_server, open_page, javascript):
    page, flow = logged_in(slow_server, open_page, "slow-" + ("js" if javascript else "nojs"),
                           javascript=javascript)
    flow.open_change_from_options()
    change_plan_licenses_frequency(flow, javascript=javascript)
    flow.complete_button().click()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    flow.pay_with_card(SUCCESS_CARD)
    flow.place_order()

    expect(page).to_have_url(re.compile(r"/orders/pending/[\w-]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Il tuo ordine è in elaborazione")
    expect(page.locator("#order-pending [role=status]")).to_contain_text("Il pagamento è in fase di conferma")
    flow.check("pending")

    # Nobody clicks: the page itself goes on to the confirmation once the charge is through.
    expect(page).to_have_url(re.compile(r"/orders/\d+$"), timeout=15000)
    expect(page.locator("#invoice-link")).to_be_visible()
    flow.check("confirmation")


@pytest.mark.parametrize("failure", ["dropped", "proxy-error", "stalled"])
def test_a_poll_without_an_answer_asks_again(slow_server, open_page, failure):
    """The page's first poll gets no answer from the portal: the connection drops, a proxy
    answers with its error page, or nothing comes back (htmx gives up after the poll's
    timeout). The page shows nothing of it, asks again by itself and still reaches the
    confirmation."""
    page, flow = logged_in(slow_server, open_page, "slow-" + failure)
    lost, stalled = [], []

    def lose_the_first_poll(route):
        if not route.request.headers.get("hx-request") or lost:
            route.continue_()
            return
        lost.append(route.request.url)
        if failure == "dropped":
            route.abort("connectionreset")
        elif failure == "proxy-error":
            route.fulfill(status=502, content_type="text/html",
                          body="<h1>502 Bad Gateway</h1><p>nginx</p>")
        else:
            stalled.append(route)  # never answered

    page.route(re.compile(r"/orders/pending/[\w-]+$"), lose_the_first_poll)
    flow.open_change_from_options()
    change_plan_licenses_frequency(flow, javascript=True)
    flow.complete_button().click()
    flow.pay_with_card(SUCCESS_CARD)
    flow.place_order()

    expect(page).to_have_url(re.compile(r"/orders/pending/[\w-]+$"))
    expect(page).to_have_url(re.compile(r"/orders/\d+$"), timeout=30000)
    assert len(lost) == 1
    expect(page.locator("#invoice-link")).to_be_visible()
    assert "Bad Gateway" not in page.content()
