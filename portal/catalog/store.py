"""The product catalog: loaded from the operator's TOML file, read from the database."""
import tomllib

from portal.core.db import db
from portal.core.models import Plan, Product

#: Feature codes the catalog may use, with their translatable labels (see ``feature_label``).
FEATURE_CODES = (
    "participants_100", "participants_150", "participants_250", "participants_500",
    "participants_1000", "participants_3000", "recordings_basic", "recordings_cloud",
    "polls_surveys", "automation", "sso", "account_manager", "support_email", "support_phone",
)


class CatalogError(ValueError):
    """The catalog file is not valid; the message says where."""


def read_catalog(path):
    """Parse and check the catalog file; returns the list of product dicts."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
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
            if plan.get("self_service", True):
                for key in ("monthly_cents", "annual_cents"):
                    value = plan.get(key)
                    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                        raise CatalogError(f"{where}: {key} must be a whole number of cents")
            for feature in plan.get("features", []):
                if feature not in FEATURE_CODES:
                    raise CatalogError(f"{where}: unknown feature {feature!r}")
    return products


def load_catalog(path):
    """Create or update products and plans from the file; returns (products, plans) counts."""
    products = read_catalog(path)
    plan_count = 0
    with db.atomic():
        for position, item in enumerate(products):
            product = Product.get_or_none(Product.code == item["code"]) or Product(code=item["code"])
            product.name = item["name"]
            product.position = position
            product.save()
            for p in item.get("plans") or []:
                plan = Plan.get_or_none(Plan.code == p["code"]) or Plan(code=p["code"])
                plan.product = product
                plan.name = p["name"]
                plan.tier = p["tier"]
                plan.self_service = bool(p.get("self_service", True))
                plan.monthly_cents = p.get("monthly_cents")
                plan.annual_cents = p.get("annual_cents")
                plan.features = list(p.get("features", []))
                plan.save()
                plan_count += 1
    invalidate()
    return len(products), plan_count


_cache = {}


def invalidate():
    """Forget the in-process copy of the catalog (after the file was loaded again)."""
    _cache.clear()


def _cached():
    """The catalog, read once per process and database: it changes rarely, and the order
    summary needs it on every click."""
    key = id(db.obj)
    if key not in _cache:
        plans = {}
        for plan in Plan.select().order_by(Plan.tier):
            plans.setdefault(plan.product_id, []).append(plan)
        products = {p.id: p for p in Product.select()}
        _cache.clear()
        _cache[key] = (plans, products)
    return _cache[key]


def plans_by_product():
    """{product_id: [Plan, ...] by tier}."""
    return _cached()[0]


def products_by_id():
    """{product_id: Product}."""
    return _cached()[1]


def plan_by_id(plan_id):
    """The cached plan with this id, or None."""
    for plans in plans_by_product().values():
        for plan in plans:
            if plan.id == plan_id:
                return plan
    return None
