"""Configuration defaults. Overridden by ``instance/config.py``, then by environment variables."""
import json
import os

from flask import Config

#: The checkout's top level: templates, static files, translations and catalog.toml live here.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: What the portal reads from the top level of its checkout.
RESOURCES = ("templates", "static", "translations", "catalog.toml")

DEV_SECRET_KEY = "dev-only-secret-key-change-me"

DEFAULTS = {
    "SECRET_KEY": DEV_SECRET_KEY,
    "DATABASE_URL": None,  # default: sqlite under the instance folder, set in create_app
    "ENV_NAME": "development",  # "production" refuses the development secret key
    "BABEL_DEFAULT_LOCALE": "it",
    "BABEL_DEFAULT_TIMEZONE": "Europe/Rome",
    "LANGUAGES": ["it", "en", "de"],
    # The translators' pseudo-locale ("qps") in the language switcher; ignored in production.
    "PSEUDO_LOCALE": False,
    # Templates compiled once per catalog with their constant messages already translated
    # (portal/core/templating.py); off: every message is translated at render time.
    "FOLD_MESSAGES": True,
    "CATALOG_PATH": None,  # default: catalog.toml beside the package
    "CORPORATE_PORTAL_URL": "https://corporate-billing.example.com",
    "SUPPORT_EMAIL": "assistenza@example.com",
    "SUPPORT_PHONE": "+39 02 0000 0000",
    "SALES_EMAIL": "vendite@example.com",
    "SELLER_NAME": "Centro Webinar S.r.l.",
    "SELLER_ADDRESS": "Via del Lavoro 10, 40127 Bologna BO, Italia",
    "SELLER_VAT_NUMBER": "IT00000010215",
    # The seller's address as FatturaPA wants it (CedentePrestatore/Sede) and its tax regime
    # (RF01: ordinary regime).
    "SELLER_STREET": "Via del Lavoro 10",
    "SELLER_POSTAL_CODE": "40127",
    "SELLER_CITY": "Bologna",
    "SELLER_PROVINCE": "BO",
    "SELLER_TAX_REGIME": "RF01",
    # VIES (EU VAT numbers): the REST endpoint and a short timeout, so a slow service never
    # holds an order for long (an unanswered check is accepted provisionally, checked later).
    "VIES_URL": "https://ec.europa.eu/taxation_customs/vies/rest-api",
    "VIES_TIMEOUT": 4.0,
    "PAYMENT_GATEWAY": "sandbox",
    "SANDBOX_LATENCY_MS": 0,  # the sandbox gateway waits this long in every charge
    "FIXED_TODAY": None,
    "WTF_CSRF_TIME_LIMIT": 3600 * 8,
    "WTF_CSRF_HEADERS": ["X-CSRFToken", "X-CSRF-Token"],
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": None,  # None: on in production, off in development
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "PROXY_FIX": 0,  # number of trusted reverse proxies setting X-Forwarded-*
    "LICENSES_PAGE_SIZE": 25,
    # Days after a renewal's date on which a declined charge is tried again; after the last
    # one the subscription is suspended.
    "DUNNING_RETRY_DAYS": (1, 3, 5),
    # The worker runs `billing run` this often (minutes).
    "BILLING_RUN_MINUTES": 10,
    "BILLING_JOBS": 1,  # processes that renew the due subscriptions of one billing run
    # When orders are charged in the request (ORDER_CHARGE_THREADS = 0), a second submit of
    # an order being charged waits this long for the first one's outcome.
    "ORDER_WAIT_SECONDS": 10,
    # Threads per process that charge orders after the request has reserved them
    # (portal.checkout.charging); 0 charges in the request, which then waits for the gateway.
    "ORDER_CHARGE_THREADS": 8,
    # PostgreSQL prepares the portal's fixed queries once per pooled connection (PREPARE,
    # EXECUTE); turn off behind a pooler that moves a client between server connections
    # (PgBouncer in transaction mode). None: on when the portal pools its connections.
    "DATABASE_SERVER_PREPARE": None,
    "PASSWORD_HASH_METHOD": "scrypt",
    # The portal's address as its users reach it: the links in emails start with it.
    "PORTAL_URL": "http://127.0.0.1:5000",
    # SMTP (SPEC §3.4). Without MAIL_SERVER, development keeps delivered messages in the
    # database ("Posta inviata", /dev/mail) and production leaves them pending.
    "MAIL_SERVER": None,
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,  # STARTTLS after connecting
    "MAIL_USE_SSL": False,  # TLS from the start (usually port 465)
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_DEFAULT_SENDER": "Centro fatturazione <fatturazione@example.com>",
    "MAIL_TIMEOUT": 30,  # seconds the SMTP server may take to answer
    # The worker delivers pending email this often (minutes).
    "MAIL_SEND_MINUTES": 1,
    # Days after its writing that a sent (or refused) email's content is emptied; the row
    # stays, so the event still never writes it twice. 0 keeps everything
    # (portal.mail.outbox.prune_bodies).
    "MAIL_KEEP_DAYS": 90,
}

def _flag(text):
    """An on/off environment value: 1, true, yes or on (any case) mean on."""
    return text.lower() in ("1", "true", "yes", "on")


def _json_or_text(text):
    """What Flask's ``from_prefixed_env`` makes of a value: JSON (``50``, ``true``) or text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


#: The documented settings (README "Configuration"), read from ``PORTAL_<NAME>`` or the plain
#: ``<NAME>``, with how their text is converted; these are never parsed as JSON (a secret key
#: of digits stays text).
ENVIRONMENT = {
    "SECRET_KEY": str,
    "DATABASE_URL": str,
    # Normalized: "Production" must not quietly start in development mode.
    "ENV_NAME": lambda v: v.strip().lower(),
    "CORPORATE_PORTAL_URL": str,
    "SUPPORT_EMAIL": str,
    "SUPPORT_PHONE": str,
    "SALES_EMAIL": str,
    "SELLER_NAME": str,
    "SELLER_ADDRESS": str,
    "SELLER_VAT_NUMBER": str,
    "SELLER_STREET": str,
    "SELLER_POSTAL_CODE": str,
    "SELLER_CITY": str,
    "SELLER_PROVINCE": str,
    "SELLER_TAX_REGIME": str,
    "VIES_URL": str,
    "VIES_TIMEOUT": float,
    "PAYMENT_GATEWAY": str,
    "SANDBOX_LATENCY_MS": int,
    "FIXED_TODAY": str,
    "CATALOG_PATH": str,
    "PROXY_FIX": int,
    "DUNNING_RETRY_DAYS": lambda v: tuple(int(d) for d in v.replace(" ", "").split(",") if d),
    "BILLING_RUN_MINUTES": int,
    "BILLING_JOBS": int,
    "ORDER_CHARGE_THREADS": int,
    "DATABASE_SERVER_PREPARE": _flag,
    "ORDER_WAIT_SECONDS": float,
    "HUEY_REDIS_URL": str,
    "HUEY_SQLITE_PATH": str,
    "PSEUDO_LOCALE": lambda v: v.lower() in ("1", "true", "yes", "on"),
    "RATELIMIT_STORAGE_URI": str,
    "SESSION_COOKIE_SECURE": _flag,
    "RATELIMIT_ENABLED": _flag,
    "PORTAL_URL": str,
    "MAIL_SERVER": str,
    "MAIL_PORT": int,
    "MAIL_USE_TLS": _flag,
    "MAIL_USE_SSL": _flag,
    "MAIL_USERNAME": str,
    "MAIL_PASSWORD": str,
    "MAIL_DEFAULT_SENDER": str,
    "MAIL_TIMEOUT": int,
    "MAIL_SEND_MINUTES": int,
    "MAIL_KEEP_DAYS": int,
}


def environment_settings(root=ROOT):
    """Settings from the environment: ``PORTAL_<NAME>`` for any setting (Flask's
    ``from_prefixed_env``), over the plain ``<NAME>`` of a documented one. An empty value
    means unset; other settings than the documented ones are JSON or text, as Flask reads them.
    """
    found = Config(root)
    found.from_mapping({name: os.environ[name] for name in ENVIRONMENT if name in os.environ})
    found.from_prefixed_env("PORTAL", loads=str)  # the raw text: converted below
    return {name: ENVIRONMENT.get(name, _json_or_text)(value) if isinstance(value, str)
            else value
            for name, value in found.items() if value != ""}


class ConfigurationError(RuntimeError):
    """The configuration would make the portal unsafe or unable to run."""


def project_root():
    """The checkout the portal runs from; refuses clearly when it lacks its resources
    (a plain ``pip install .`` copies the package without them)."""
    missing = [name for name in RESOURCES if not os.path.exists(os.path.join(ROOT, name))]
    if missing:
        raise ConfigurationError(
            f"Centro fatturazione runs from a checkout of its repository, and {ROOT} lacks "
            f"{', '.join(missing)}: install it with `make run` (an editable install) instead "
            "of `pip install .`.")
    return ROOT


def configure(app, test_config=None):
    """Defaults, then ``instance/config.py`` and the environment (or the tests' settings);
    then derive what depends on other settings and refuse unsafe ones."""
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.update(environment_settings())
    else:
        app.config.update(test_config)
    cfg = app.config
    if not cfg.get("DATABASE_URL"):
        cfg["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "portal.sqlite3")
    if not cfg.get("CATALOG_PATH"):
        cfg["CATALOG_PATH"] = os.path.join(ROOT, "catalog.toml")
    cfg.setdefault("BABEL_TRANSLATION_DIRECTORIES", os.path.join(ROOT, "translations"))
    production = cfg["ENV_NAME"] == "production"
    secret = cfg.get("SECRET_KEY") or ""
    if production and (secret == DEV_SECRET_KEY or len(secret) < 32):
        raise ConfigurationError(
            "Refusing to start in production with the development SECRET_KEY or a short "
            "one: set SECRET_KEY (or PORTAL_SECRET_KEY) to a long random value "
            "(at least 32 characters).")
    if cfg.get("MAIL_USE_TLS") and cfg.get("MAIL_USE_SSL"):
        raise ConfigurationError(
            "MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL (TLS from the start) exclude each "
            "other: set one of them.")
    if cfg.get("SESSION_COOKIE_SECURE") is None:
        cfg["SESSION_COOKIE_SECURE"] = production
    cfg["REMEMBER_COOKIE_SECURE"] = cfg["SESSION_COOKIE_SECURE"]
