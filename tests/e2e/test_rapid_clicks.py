"""Scenario 7: rapid clicks on + and − end with a summary that matches the final count.

To make the race real on a fast loopback server, the summary responses are held back in the
browser (Chrome DevTools Protocol, Fetch domain, response stage) and then released newest
first: an older response arriving last must not overwrite the newer summary.
"""
import pytest
from playwright.sync_api import expect

from .conftest import SCENARIO_LANGS
from .helpers import Flow, expected_due

pytestmark = pytest.mark.browser

LANGS = SCENARIO_LANGS
STANDARD_MONTHLY = 11900


class HeldResponses:
    """Holds every XHR response of a page until ``release_newest_first``."""

    def __init__(self, page):
        self.page = page
        self.session = page.context.new_cdp_session(page)
        self.paused = []
        self.session.on("Fetch.requestPaused", lambda event: self.paused.append(event))
        self.session.send("Fetch.enable", {"patterns": [
            {"urlPattern": "*", "resourceType": "XHR", "requestStage": "Response"}]})

    def wait_for(self, count, timeout_ms=5000):
        """Wait until at least ``count`` responses are held (or the time runs out)."""
        waited = 0
        while len(self.paused) < count and waited < timeout_ms:
            self.page.wait_for_timeout(50)
            waited += 50
        return len(self.paused)

    def release_newest_first(self):
        """Deliver the held responses in reverse order, then stop holding."""
        for event in reversed(list(self.paused)):
            try:
                self.session.send("Fetch.continueRequest", {"requestId": event["requestId"]})
            except Exception:
                pass  # htmx aborted that request already (hx-sync replace): nothing to deliver
            self.page.wait_for_timeout(60)
        # Disabling continues anything still paused, so it comes after the reversed release.
        self.session.send("Fetch.disable")


@pytest.mark.parametrize("lang", LANGS)
def test_rapid_clicks_end_with_the_final_count(server, open_page, lang):
    """+ six times and − twice as fast as possible: the summary shows 9 licenses and its price."""
    page = open_page(server.url, lang)
    flow = Flow(page, lang, "rapid")
    flow.login()
    flow.open_change_from_options("Webinar")
    add = page.get_by_role("button", name=flow.label("add_license"), exact=True)
    remove = page.get_by_role("button", name=flow.label("remove_license"), exact=True)

    held = HeldResponses(page)
    for button in [add] * 6 + [remove] * 2:
        button.click(delay=0)
    expect(page.locator("#licenses")).to_have_value("9")
    assert held.wait_for(1) >= 1, "no summary request was sent by the clicks"
    page.wait_for_timeout(300)  # let any late request be held too
    held.release_newest_first()
    page.wait_for_load_state("networkidle")

    expect(page.locator("#licenses")).to_have_value("9")
    expect(flow.summary_figure("new-licenses")).to_have_text("9")
    flow.expect_due(expected_due(STANDARD_MONTHLY, 9))
    flow.check("final-summary")
