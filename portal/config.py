"""Configuration defaults. Overridden by ``instance/config.py``, then by environment variables."""
import os

DEV_SECRET_KEY = "dev-only-secret-key-change-me"

DEFAULTS = {
    "SECRET_KEY": DEV_SECRET_KEY,
    "DATABASE_URL": None,  # default: sqlite under the instance folder, set in create_app
    "ENV_NAME": "development",  # "production" refuses the development secret key
    "BABEL_DEFAULT_LOCALE": "it",
    "BABEL_DEFAULT_TIMEZONE": "Europe/Rome",
    "LANGUAGES": ["it", "en", "de"],
    "CATALOG_PATH": None,  # default: catalog.toml beside the package
    "CORPORATE_PORTAL_URL": "https://corporate-billing.example.com",
    "SUPPORT_EMAIL": "assistenza@example.com",
    "SUPPORT_PHONE": "+39 02 0000 0000",
    "SALES_EMAIL": "vendite@example.com",
    "SELLER_NAME": "Centro Webinar S.r.l.",
    "SELLER_ADDRESS": "Via del Lavoro 10, 40127 Bologna BO, Italia",
    "SELLER_VAT_NUMBER": "IT00000010215",
    "PAYMENT_GATEWAY": "sandbox",
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
    "BENCHMARK_MODE": False,
    "PASSWORD_HASH_METHOD": "scrypt",
}

#: Environment variables read at start-up, with the type they are converted to.
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
    "PAYMENT_GATEWAY": str,
    "FIXED_TODAY": str,
    "CATALOG_PATH": str,
    "PROXY_FIX": int,
    "RATELIMIT_STORAGE_URI": str,
    "SESSION_COOKIE_SECURE": lambda v: v.lower() in ("1", "true", "yes", "on"),
    "BENCHMARK_MODE": lambda v: v.lower() in ("1", "true", "yes", "on"),
    "RATELIMIT_ENABLED": lambda v: v.lower() in ("1", "true", "yes", "on"),
}


def from_environment(environ=os.environ, prefix="PORTAL_"):
    """Settings from ``PORTAL_<NAME>`` or plain ``<NAME>`` environment variables."""
    settings = {}
    for name, convert in ENVIRONMENT.items():
        raw = environ.get(prefix + name, environ.get(name))
        if raw not in (None, ""):
            settings[name] = convert(raw)
    return settings
