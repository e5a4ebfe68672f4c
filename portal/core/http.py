"""Shared view helpers: htmx-aware rendering, redirects, safe ``next`` and error pages."""
from urllib.parse import unquote_to_bytes, urlsplit

from flask import current_app, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_htmx import HTMX
from flask_htmx import make_response as htmx_response
from flask_wtf.csrf import CSRFError
import jinja2_fragments
from jinja2_fragments.flask import render_block, render_blocks
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.routing import RequestRedirect

htmx = HTMX()


def is_utf8_form(body):
    """True when every name and value of a urlencoded ``body`` is UTF-8 text (Werkzeug
    keeps invalid bytes percent-encoded, so a mangled value would reach the views)."""
    try:
        for part in body.split(b"&"):
            unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def is_htmx():
    """An htmx request that wants a fragment (a history restore wants the whole page): the
    headers flask-htmx reads, read from the WSGI environ at once (its properties look the
    request up again for each)."""
    environ = request.environ
    return (environ.get("HTTP_HX_REQUEST") == "true"
            and environ.get("HTTP_HX_HISTORY_RESTORE_REQUEST") != "true")


def render(template, block=None, status=200, processors=True, **context):
    """The whole page, or for an htmx request only ``block`` (a name, or a list of names).

    ``processors=False``: the block alone renders with ``context`` only, without what the
    context processors add to every page (the user, the request, the language switcher's
    values), for a block that uses none of them and is asked for on every click."""
    if block and is_htmx():
        if isinstance(block, (list, tuple)):
            body = render_blocks(template, list(block), **context)
        elif processors:
            body = render_block(template, block, **context)
        else:
            body = jinja2_fragments.render_block(current_app.jinja_env, template, block,
                                                 **context)
    else:
        body = render_template(template, **context)
    return make_response(body, status)


def hx_redirect(url):
    """Tell htmx to load ``url`` as a full page."""
    return htmx_response("", redirect=url)


def see_other(url):
    """303 after a plain POST, ``HX-Redirect`` after an htmx one."""
    return hx_redirect(url) if is_htmx() else redirect(url, 303)


def safe_next(target, default=None):
    """Keep ``next`` only when it is a path on this site (no scheme, host or ``//``)."""
    if not target or not isinstance(target, str):
        return default
    target = target.strip()
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return default
    return target


def shows_page(path):
    """Whether a GET of ``path`` (a path on this site) reaches a page of the portal."""
    adapter = current_app.url_map.bind(request.host)
    try:
        adapter.match(urlsplit(path).path, method="GET")
    except RequestRedirect:
        return True
    except HTTPException:  # 404, or 405: a path that only takes a POST
        return False
    return True


#: What every page's header and footer link to (``base.html``).
CHROME_ENDPOINTS = ("dashboard.index", "licenses.mine", "checkout.cart", "invoices.index",
                    "lifecycle.payment_methods", "customers.edit", "audit.index",
                    "auth.set_locale", "profile.show", "auth.logout", "pages.support",
                    "pages.corporate_faq", "mail.index")
CHROME_STATIC = ("favicon.svg", "css/portal.css", "vendor/htmx/htmx.min.js", "js/portal.js")


def chrome_urls():
    """``{endpoint or static file: URL}`` for every page's header and footer, built once
    per script root (the prefix the portal is served under) rather than on every page:
    werkzeug takes 5-8 µs to build each of the seventeen."""
    built = current_app.extensions.setdefault("portal_chrome_urls", {})
    root = request.script_root
    urls = built.get(root)
    if urls is None:
        urls = {endpoint: url_for(endpoint) for endpoint in CHROME_ENDPOINTS}
        urls.update((name, url_for("static", filename=name)) for name in CHROME_STATIC)
        if len(built) < 16:  # a handful of prefixes at most; never grows without bound
            built[root] = urls
    return urls


def return_path():
    """Where a form of every page (the language switcher) brings the user back to.

    The current page when it can be shown again with a GET; after a POST that answered with
    a page (a refused payment at ``/checkout/order``), the page the form was sent from.
    """
    if request.method in ("GET", "HEAD"):
        return request.full_path.rstrip("?")
    if shows_page(request.path):
        return request.path
    referrer = safe_next(_same_site_path(request.referrer))
    if referrer and shows_page(referrer):
        return referrer
    return "/"


def _same_site_path(url):
    """The path and query of ``url`` when it points at this site, else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.host:
        return None
    return parts.path + ("?" + parts.query if parts.query else "")


def no_store(response):
    """Prices, keys, invoices and account data must not be kept by a browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(status, title=None, message=None, page="errors/error.html",
               fragment="errors/fragment.html", **extra):
    """The one way to answer with an error: a localized page, or for htmx its message as a
    fragment that replaces the flash messages (whatever region the request targeted)."""
    context = dict(status=status, title=title, message=message, **extra)
    if is_htmx():
        return htmx_response(render_template(fragment, **context), status,
                             retarget="#flash-messages", reswap="innerHTML")
    return make_response(render_template(page, **context), status)


def init_app(app):
    """Register flask-htmx, ``Vary: HX-Request`` and the error handlers."""
    htmx.init_app(app)

    app.jinja_env.globals["return_path"] = return_path
    app.jinja_env.globals["chrome_urls"] = chrome_urls

    @app.after_request
    def _vary(response):
        response.vary.add("HX-Request")
        return response

    @app.before_request
    def _readable_form():
        """A form whose text is not UTF-8 is a bad request, not an expired form."""
        if (request.method == "POST"
                and request.mimetype == "application/x-www-form-urlencoded"
                and not is_utf8_form(request.get_data(cache=True))):
            raise BadRequest()

    @app.errorhandler(CSRFError)
    def _csrf(error):
        return error_page(400, _("This form has expired"),
                          _("For your security the form could not be sent. Reload the page "
                            "and try again."))

    @app.errorhandler(404)
    def _not_found(error):
        return error_page(404, _("Page not found"),
                          _("The page you asked for does not exist or is not available to "
                            "your account."))

    @app.errorhandler(405)
    def _not_allowed(error):
        response = error_page(405, _("Action not allowed"),
                              _("This address cannot be used this way."))
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods or ()))
        return response

    @app.errorhandler(BadRequest)
    def _bad_request(error):
        return error_page(400, _("Bad request"),
                          _("What you sent could not be read. Reload the page and try again."))

    @app.errorhandler(413)
    def _too_large(error):
        return error_page(413, _("Request too large"),
                          _("What you sent is too large. Shorten it and try again."))

    @app.errorhandler(500)
    def _server_error(error):
        return error_page(500, _("Something went wrong"),
                          _("Nothing was changed. Please try again in a moment."))
