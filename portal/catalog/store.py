"""The product catalog: loaded from the operator's TOML file, read from the database.

Every ``flask catalog load`` that changes something writes a new ``CatalogVersion``. A
request works with one snapshot of the catalog, taken once (``snapshot``): every price of a
quote comes from one version, and the quote's fingerprint carries it, so a review made before
a load and placed after it is shown again instead of being charged at mixed prices. Each
process keeps the newest snapshot and notices a new version on its next request (one small
query, or none when the request's first query already read it: see
``portal.core.access.account_subscription``).
"""
import tomllib
from dataclasses import dataclass, field

from peewee import fn

from portal.core import scope
from portal.core.db import db, write_transaction
from portal.core.models import CatalogVersion, Plan, Product, Subscription

#: Feature codes the catalog may use, with their translatable labels (see ``feature_label``).
FEATURE_CODES = (
    "participants_100", "participants_150", "participants_250", "participants_500",
    "participants_1000", "participants_3000", "recordings_basic", "recordings_cloud",
    "polls_surveys", "automation", "sso", "account_manager", "support_email", "support_phone",
)

#: The highest price per license and period the catalog accepts: 1,000,000.00.
#: With at most 10,000 licenses per subscription (``portal.billing.MAX_LICENSES``) and the
#: highest EU VAT rate (27 %), one line is at most 10,000 × 100,000,000 × 1.27 ≈ 1.3 × 10^12
#: cents, and an order of a few lines stays far below the 64-bit columns' 9.2 × 10^18.
MAX_PRICE_CENTS = 100_000_000

#: The currency of a catalog file that names none.
DEFAULT_CURRENCY = "EUR"


class CatalogError(ValueError):
    """The catalog file is not valid, or loading it would break existing subscriptions."""


def read_catalog_file(path):
    """Parse and check the catalog file; returns (currency, list of product dicts)."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    currency = data.get("currency", DEFAULT_CURRENCY)
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise CatalogError(f"currency must be a three-letter code, not {currency!r}")
    products = data.get("products") or []
    if not products:
        raise CatalogError("the catalog has no [[products]]")
    seen = set()
    for product in products:
        for key in ("code", "name"):
            if not isinstance(product.get(key), str) or not product[key]:
                raise CatalogError(f"a product has no {key}")
        for plan in product.get("plans") or []:
            where = f"plan {plan.get('code')!r} of {product['code']!r}"
            for key in ("code", "name"):
                if not isinstance(plan.get(key), str) or not plan[key]:
                    raise CatalogError(f"{where}: a plan has no {key}")
            if plan.get("code") in seen:
                raise CatalogError(f"{where}: duplicate code")
            seen.add(plan.get("code"))
            if not isinstance(plan.get("tier"), int):
                raise CatalogError(f"{where}: tier must be an integer")
            if not isinstance(plan.get("retired", False), bool):
                raise CatalogError(f"{where}: retired must be true or false")
            for key in ("monthly_cents", "annual_cents"):
                value = plan.get(key)
                if value is None and not plan.get("self_service", True):
                    continue
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise CatalogError(f"{where}: {key} must be a whole number of cents, "
                                       "not negative")
                if value > MAX_PRICE_CENTS:
                    raise CatalogError(f"{where}: {key} is above the highest price the "
                                       f"portal accepts ({MAX_PRICE_CENTS} cents)")
            for feature in plan.get("features", []):
                if feature not in FEATURE_CODES:
                    raise CatalogError(f"{where}: unknown feature {feature!r}")
    return currency.upper(), products


def current_version():
    """The catalog version in force (0 before the first load)."""
    return CatalogVersion.select(fn.COALESCE(fn.MAX(CatalogVersion.version), 0)).scalar()


def _catalog_currency():
    """The currency the subscriptions are billed in, if any subscription exists."""
    row = Subscription.select(Subscription.currency).limit(1).tuples().first()
    return row[0] if row else None


def _plan_changes(existing, item, currency):
    """What loading ``item`` (a plan dict of the file) changes of ``existing`` (or None)."""
    code = item["code"]
    if existing is None:
        return [{"kind": "added", "plan": code}]
    changes = []
    for key, frequency in (("monthly_cents", "monthly"), ("annual_cents", "annual")):
        old, new = getattr(existing, key), item.get(key)
        if old != new:
            changes.append({"kind": "price", "plan": code, "frequency": frequency,
                            "old": old, "new": new, "currency": currency})
    retired = bool(item.get("retired", False))
    if retired != existing.retired:
        changes.append({"kind": "retired" if retired else "restored", "plan": code})
    if (existing.name, existing.tier, list(existing.features), existing.self_service) != (
            item["name"], item["tier"], list(item.get("features", [])),
            bool(item.get("self_service", True))):
        changes.append({"kind": "details", "plan": code})
    return changes


@dataclass
class LoadResult:
    """What a load did: counts, the version in force and the changes it made."""

    products: int
    plans: int
    version: int
    changes: list = field(default_factory=list)


def load_catalog(path):
    """Create or update products and plans from the file, as one new catalog version.

    Refused (``CatalogError``, nothing written): a plan in the database that the file no
    longer lists (keep it with ``retired = true``: subscriptions on it go on), and a currency
    other than the one existing subscriptions are billed in. A load that changes nothing
    keeps the version in force, so open reviews stay valid.
    """
    currency, products = read_catalog_file(path)
    plan_count = 0
    changes = []
    with write_transaction():
        billed_in = _catalog_currency()
        if billed_in and billed_in != currency:
            raise CatalogError(f"the catalog's currency is {currency}, but subscriptions are "
                               f"billed in {billed_in}: a currency cannot be dropped")
        listed = {plan["code"] for item in products for plan in item.get("plans") or []}
        missing = [code for (code,) in Plan.select(Plan.code).tuples() if code not in listed]
        if missing:
            raise CatalogError(
                f"plans {', '.join(sorted(missing))} are no longer in the file: keep them "
                "with `retired = true` (subscriptions on them renew at their price paid)")
        for position, item in enumerate(products):
            product = Product.get_or_none(Product.code == item["code"])
            if product is not None and (product.name, product.position) != (item["name"],
                                                                            position):
                # pages take product names from the catalog version in force: a new one
                changes.append({"kind": "product", "product": item["code"]})
            product = product or Product(code=item["code"])
            product.name = item["name"]
            product.position = position
            product.save()
            for p in item.get("plans") or []:
                plan = Plan.get_or_none(Plan.code == p["code"])
                changes += _plan_changes(plan, p, currency)
                if plan is not None and plan.product_id != product.id:
                    changes.append({"kind": "moved", "plan": p["code"],
                                    "product": item["code"]})
                plan = plan or Plan(code=p["code"])
                plan.product = product
                plan.name = p["name"]
                plan.tier = p["tier"]
                plan.self_service = bool(p.get("self_service", True))
                plan.retired = bool(p.get("retired", False))
                plan.monthly_cents = p.get("monthly_cents")
                plan.annual_cents = p.get("annual_cents")
                plan.features = list(p.get("features", []))
                plan.save()
                plan_count += 1
        version = current_version()
        if changes or version == 0:
            version += 1
            CatalogVersion.create(version=version, changes=changes)
    invalidate()
    return LoadResult(len(products), plan_count, version, changes)


@dataclass(frozen=True)
class Snapshot:
    """The catalog of one version: {product_id: [Plan by tier]} and {product_id: Product};
    ``derived`` keeps what callers compute from this version once (a new version is a new
    snapshot, so nothing in it goes stale)."""

    version: int
    plans: dict
    products: dict
    derived: dict = field(default_factory=dict, compare=False, repr=False)


_cache = {}


def invalidate():
    """Forget the process's and the request's copy (after the file was loaded again)."""
    _cache.clear()
    values = scope.current()
    if values is not None:
        values.pop("catalog", None)


def _read_snapshot():
    """Plans and products of one version: read again if a load committed meanwhile (on
    PostgreSQL each statement sees the newest commit)."""
    while True:
        version = current_version()
        plans = {}
        for plan in Plan.select().order_by(Plan.tier):
            plans.setdefault(plan.product_id, []).append(plan)
        products = {p.id: p for p in Product.select()}
        if current_version() == version:
            return Snapshot(version, plans, products)


def snapshot():
    """The catalog this request works with: the newest version, fixed for the request.

    The request's values (``portal.core.scope``) may hold the version it already read (see
    ``portal.core.access``); otherwise it costs one small query per request.
    """
    values = scope.current()
    if values is not None:
        found = values.get("catalog")
        if found is not None:
            return found
    version = values.pop("catalog_version", None) if values is not None else None
    if version is None:
        version = current_version()
    key = id(db.obj)
    cached = _cache.get(key)
    if cached is None or cached.version != version:
        cached = _read_snapshot()
        _cache.clear()
        _cache[key] = cached
    if values is not None:
        values["catalog"] = cached
    return cached


def catalog_version():
    """The version of the request's catalog."""
    return snapshot().version


def plans_by_product():
    """{product_id: [Plan, ...] by tier}."""
    return snapshot().plans


def products_by_id():
    """{product_id: Product}."""
    return snapshot().products


def plan_by_id(plan_id):
    """The plan with this id in the request's catalog, or None."""
    for plans in plans_by_product().values():
        for plan in plans:
            if plan.id == plan_id:
                return plan
    return None
