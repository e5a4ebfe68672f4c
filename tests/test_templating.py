"""Templates compiled per catalog with their constant messages translated (portal/core/templating.py).

The folded templates must produce exactly the HTML, text and PDF markup that translating at
render time produces: every page, fragment, email and invoice document is rendered both ways
in every language, and the pseudo-locale, and compared.
"""
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from flask import render_template, render_template_string
from markupsafe import Markup

from conftest import GIULIA, Browser, without_tokens
from portal.billing.prices import PlanPrice
from portal.core import templating
from portal.core.db import db
from portal.core.i18n import _formatted, pseudo_text, speaking
from portal.core.models import Invoice, OutboxMessage, User
from portal.invoices.numbering import invoice_document
from portal.mail.outbox import render_row
from test_checkout_support import add_to_cart, card_form, place, review

LANGUAGES = ["it", "en", "de"]
PAGES = ["/", "/subscriptions/1/change", "/subscriptions/1/licenses", "/my-licenses",
         "/cart", "/checkout", "/payment-methods", "/invoices", "/billing-details",
         "/activity", "/profile", "/help/support", "/help/corporate", "/no-such-page",
         "/dev/mail/"]
#: The summary fragment: a valid change, a refused one, a malformed one.
FRAGMENTS = ["/subscriptions/1/change?plan=webinar-pro&licenses=8&frequency=annual",
             "/subscriptions/1/change?plan=webinar-lite&licenses=0&frequency=monthly",
             "/subscriptions/1/change?plan=nope&licenses=abc&frequency=weekly"]


def both_ways(app, render):
    """``render()`` with the messages folded at compile time, then translated at render time."""
    app.config["FOLD_MESSAGES"] = True
    folded = render()
    app.config["FOLD_MESSAGES"] = False
    plain = render()
    app.config["FOLD_MESSAGES"] = True
    return folded, plain


def page(browser, path, htmx=False, **kwargs):
    """Status and body of a GET, without the values that change on every request."""
    response = browser.get(path, htmx=htmx, **kwargs)
    return response.status_code, without_tokens(response.get_data(as_text=True))


def crawl(app, browser):
    """Every page and fragment, compared folded and not; the number compared."""
    compared = 0
    for path in PAGES:
        folded, plain = both_ways(app, lambda: page(browser, path))
        assert folded == plain, path
        compared += 1
    for path in FRAGMENTS:
        folded, plain = both_ways(app, lambda: page(browser, path, htmx=True))
        assert folded == plain, path
        compared += 1
    return compared


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_is_the_same_folded_or_translated_at_render_time(app, giulia, language):
    with db.connection_context():
        User.update(locale=language).where(User.email == GIULIA).execute()
    add_to_cart(2, "webinar-standard", 7, "annual")  # the review page, not a redirect
    html = giulia.get("/").get_data(as_text=True)
    assert f'<html lang="{language}"' in html
    assert crawl(app, giulia) == len(PAGES) + len(FRAGMENTS)
    # the folded templates were the ones used: the overlay of the language's catalog
    catalogs = [key for key in app.jinja_env.message_overlays if isinstance(key, tuple)]
    assert any(f"/{language}/LC_MESSAGES/messages.mo" in key[0] for key in catalogs)


def pseudo_browser(make_app):
    """(app, Giulia's browser) with the pseudo-locale chosen."""
    app = make_app(PSEUDO_LOCALE=True)
    browser = Browser(app.test_client())
    browser.login(GIULIA)
    with db.connection_context():
        User.update(locale=None).where(User.email == GIULIA).execute()
    browser.post("/locale", {"locale": "qps", "next": "/"})
    return app, browser


def test_the_pseudo_locale_folds_its_own_messages(make_app):
    app, browser = pseudo_browser(make_app)
    add_to_cart(2, "webinar-standard", 7, "annual")  # the review page, not a redirect
    folded, plain = both_ways(app, lambda: page(browser, "/"))
    assert folded == plain
    assert pseudo_text("Log out") in folded[1]
    assert crawl(app, browser) == len(PAGES) + len(FRAGMENTS)


def test_the_pseudo_locale_reaches_the_messages_written_in_python(make_app):
    """Flashed messages and form errors come from Python's gettext, not from a template."""
    app, browser = pseudo_browser(make_app)
    refused = browser.post("/profile", {"name": "", "locale": "it"})
    assert refused.status_code == 422
    assert pseudo_text("Enter your name.") in refused.get_data(as_text=True)
    with app.test_request_context():
        from flask import session
        from flask_babel import gettext, lazy_gettext
        session["locale"] = "qps"
        assert gettext("Log out") == str(lazy_gettext("Log out")) == pseudo_text("Log out")
        session["locale"] = "en"
        assert gettext("Log out") == "Log out"


def test_logged_out_pages_in_every_language(app, browser):
    for language in LANGUAGES:
        for path in ("/login", "/password/forgot", "/help/support"):
            folded, plain = both_ways(app, lambda: page(
                browser, path, headers={"Accept-Language": language}))
            assert folded == plain, (language, path)
            assert f'<html lang="{language}"' in folded[1]


def test_emails_and_invoice_documents_are_the_same_folded_or_not(app, giulia):
    add_to_cart(1, "webinar-pro", 6, "monthly")
    _html, fields = review(giulia)
    assert place(giulia, fields, card_form()).status_code == 303
    with app.app_context(), db.connection_context():
        message = OutboxMessage.select().where(OutboxMessage.kind == "order_receipt").get()
        invoice = Invoice.select().order_by(Invoice.id.desc()).get()
        for language in LANGUAGES:
            message.locale = language
            folded, plain = both_ways(app, lambda: render_row(message))
            assert folded == plain, language
            subject, text, html = folded
            assert "&amp;" not in text  # the text part is not HTML-escaped
            with speaking(language):
                folded, plain = both_ways(app, lambda: render_template(
                    "invoices/pdf.html", invoice=invoice,
                    doc=invoice_document(invoice, invoice.order)))
            assert folded == plain, language


# ------------------------------------------------------------------ the rewriting itself


def overlay(app, language="it"):
    """The overlay environment of ``language``'s catalog."""
    with app.test_request_context("/", headers={"Accept-Language": language}):
        return app.jinja_env.get_template("base.html").environment


@pytest.mark.parametrize("source, expected", [
    # a whole output tag: template data, HTML in the message kept as written
    ('{{ _("Order summary") }}', "Riepilogo ordine"),
    # inside an expression: a safe literal, so a filter or a macro gets what _ would return
    ('{{ _("Order summary")|upper }}', "RIEPILOGO ORDINE"),
    ('{% set label = _("Cancel") %}[{{ label }}]', "[Annulla]"),
    # with variables: translated now, formatted (and the variables escaped) at render time
    ('{{ _("Next renewal on %(date)s: %(amount)s + VAT.", date="<b>", amount="1 €") }}',
     "Prossimo rinnovo il &lt;b&gt;: 1 € + IVA."),
    # not a call of gettext: left alone
    ('{{ names._("x") if names else "-" }}', "-"),
    ('{{ ngettext("item", "items", 2) }}', "articoli"),
])
def test_constant_messages_are_translated_at_compile_time(app, source, expected):
    environment = overlay(app)
    with app.test_request_context("/", headers={"Accept-Language": "it"}):
        assert environment.from_string(source).render(names=None) == expected
        assert app.jinja_env.from_string(source).render(names=None) == expected  # unfolded


def test_a_folded_template_has_no_gettext_call_left_for_a_constant(app):
    environment = overlay(app)
    code = environment.compile('<a>{{ _("Order summary") }}</a>{{ f(_("Cancel")) }}', raw=True)
    assert "Riepilogo ordine" in code and "Annulla" in code
    assert "'Order summary'" not in code and "'Cancel'" not in code


def test_a_placeholder_without_its_variable_still_fails_at_render_time(app):
    environment = overlay(app)
    with app.test_request_context("/"):
        template = environment.from_string('{{ _("Total due today %(amount)s") }}')
        with pytest.raises(KeyError):
            template.render()


def test_without_a_request_or_with_folding_off_templates_compile_as_written(make_app):
    app = make_app(FOLD_MESSAGES=False)
    with app.test_request_context("/"):
        assert app.jinja_env.get_template("base.html").environment is app.jinja_env
    assert app.jinja_env.message_overlays == {}


def test_the_header_and_footer_links_follow_the_prefix_the_portal_is_served_under(app, giulia):
    # base.html's links are built once per script root (portal.core.http.chrome_urls)
    plain = giulia.get("/").get_data(as_text=True)
    assert 'href="/invoices"' in plain or 'href="/invoices/"' in plain
    assert 'href="/static/css/portal.css"' in plain
    prefixed = giulia.client.get("/", base_url="http://localhost/billing/").get_data(
        as_text=True)
    hrefs = re.findall(r'(?:href|src|action)="(/[^"]*)"', prefixed)
    assert hrefs and all(h.startswith("/billing/") for h in hrefs), hrefs
    assert 'href="/billing/static/css/portal.css"' in prefixed
    # and the page the user is on is still the current one in the menu
    assert re.search(r'href="/billing/"\s+aria-current="page"', prefixed)
    again = giulia.get("/").get_data(as_text=True)
    assert 'href="/static/css/portal.css"' in again


@pytest.mark.parametrize("text, variables", [
    ("%(name)s & %(amount)s", {"name": "<b>Rossi & C.</b>", "amount": Markup("1&nbsp;€")}),
    ("expires %(month)02d/%(year)s", {"month": 3, "year": 2030}),
    ("%(rate)s of %(total)s, %(ok)s", {"rate": Decimal("0.22"), "total": 1.5, "ok": True}),
    ("%(value)s", {"value": None}),
    ("100%% sure", {}),
    ("plain", {}),
])
def test_messages_escape_their_variables_as_markupsafe_does(text, variables):
    # i18n._formatted escapes each variable itself instead of Markup.__mod__'s helpers
    autoescaped, plain = SimpleNamespace(autoescape=True), SimpleNamespace(autoescape=False)
    expected = Markup(text) % variables
    formatted = _formatted(autoescaped, text, dict(variables))
    assert formatted == expected and isinstance(formatted, Markup)
    assert _formatted(plain, text, dict(variables)) == (text % variables if variables
                                                          or "%" in text else text)


@pytest.mark.parametrize("language", ["it", "en"])
def test_label_globals_render_as_the_macros_themselves(app, language):
    # portal.core.templating.LABEL_MACROS: remembered per arguments and locale
    price = PlanPrice("p", "webinar", "Pro", 2, 1990, 19900, True)
    calls = ['frequency_label("annual")', "licenses_count(1)", "licenses_count(12)",
             'unit_price(price, "annual")', 'unit_price(price, "monthly")',
             'vat_reason_label("reverse_charge")']
    imported = '{% from "macros.html" import frequency_label, licenses_count, unit_price, ' \
               'vat_reason_label %}'
    with app.test_request_context("/", headers={"Accept-Language": language}):
        for call in calls:
            source = "{{ " + call + " }}"
            direct = app.jinja_env.from_string(imported + source).render(price=price)
            assert app.jinja_env.from_string(source).render(price=price) == direct
            assert render_template_string(source, price=price) == direct  # twice: cached


def test_label_globals_keep_one_output_per_locale_and_none_for_a_model_row(app, giulia):
    templating._cached_macro.cache_clear()
    source = '{{ frequency_label("monthly") }}|{{ licenses_count(n) }}'
    with app.test_request_context("/", headers={"Accept-Language": "it"}):
        assert render_template_string(source, n=3) == "Mensile|3 licenze"
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert render_template_string(source, n=3) == "Monthly|3 licenses"
    with app.test_request_context("/"):
        # a row is not a value: rendered every time, never remembered
        before = templating._cached_macro.cache_info().currsize
        user = User.get(User.email == GIULIA)
        assert render_template_string("{{ frequency_label(u) }}", u=user) == str(user)
        assert templating._cached_macro.cache_info().currsize == before
