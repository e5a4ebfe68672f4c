"""Property tests of the pricing engine (hypothesis)."""
import dataclasses
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.billing import (
    FREQUENCIES,
    ChangeRequest,
    CurrentSubscription,
    PlanPrice,
    period_end,
    proration_credit,
    quote_change,
    quote_fingerprint,
    vat_treatment,
)

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

COUNTRIES = ["IT", "DE", "FR", "FI", "GR", "US", "CH", "JP"]
VAT_NUMBERS = {"DE": "DE136695976", "FR": "FR61954506077", "GR": "EL094259216",
               "IT": "IT01234560124"}

prices = st.integers(min_value=0, max_value=500_000)
licenses = st.integers(min_value=1, max_value=10_000)
frequencies = st.sampled_from(FREQUENCIES)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@st.composite
def plans(draw, product="webinar", tier=None):
    """Draw a priced, self-service plan."""
    return PlanPrice(
        code=draw(st.sampled_from(["lite", "standard", "pro", "max"])) + "-" + product,
        product_code=product,
        name="Plan",
        tier=draw(st.integers(1, 5)) if tier is None else tier,
        monthly_cents=draw(prices),
        annual_cents=draw(prices),
        self_service=True,
    )


@st.composite
def subscriptions(draw, sub_id=None):
    """Draw a current subscription, mostly active, with today somewhere around its period."""
    frequency = draw(frequencies)
    start = draw(days)
    status = draw(st.sampled_from(["active"] * 4 + ["trialing", "trial_expired"]))
    # What the period was billed at: any price, since the catalog may have changed since.
    price_paid = draw(prices) if status == "active" else None
    return CurrentSubscription(
        id=draw(st.integers(1, 10_000)) if sub_id is None else sub_id,
        product_code="webinar",
        product_name="Webinar",
        plan=draw(plans()),
        licenses=draw(licenses),
        frequency=frequency,
        period_start=start,
        period_end=period_end(start, frequency),
        status=status,
        version=draw(st.integers(1, 100)),
        assigned=0,
        price_paid=price_paid,
    )


@st.composite
def orders(draw):
    """Draw (items, country, vat_number, balance, today) for quote_change."""
    ids = draw(st.lists(st.integers(1, 10_000), min_size=1, max_size=4, unique=True))
    items = []
    for sub_id in ids:
        sub = draw(subscriptions(sub_id=sub_id))
        items.append(ChangeRequest(sub, draw(plans()), draw(licenses), draw(frequencies)))
    first = items[0].subscription
    today = first.period_start + timedelta(days=draw(st.integers(-5, 400)))
    country = draw(st.sampled_from(COUNTRIES))
    vat_number = VAT_NUMBERS.get(country) if draw(st.booleans()) else None
    balance = draw(st.integers(0, 5_000_000))
    return items, country, vat_number, balance, today


def _quote(order):
    """Quote a drawn order."""
    items, country, vat_number, balance, today = order
    return quote_change(items, country=country, vat_number=vat_number, balance=balance,
                        today=today)


@SETTINGS
@given(orders())
def test_money_invariants(order):
    q = _quote(order)
    assert q.due >= 0 and q.applied >= 0 and q.credit_added >= 0
    assert q.subtotal == sum(line.charge for line in q.lines) - sum(line.credit for line in q.lines)
    if q.subtotal > 0:
        assert q.due + q.applied == q.total == q.subtotal + q.vat
        assert q.applied <= q.balance and q.credit_added == 0
    else:
        assert q.due == 0 and q.applied == 0 and q.vat == 0
        assert q.credit_added >= -q.subtotal
    for value in (q.subtotal, q.vat, q.total, q.applied, q.due, q.credit_added):
        assert type(value) is int


@SETTINGS
@given(orders())
def test_new_period_starts_today(order):
    q = _quote(order)
    today = order[4]
    for line in q.lines:
        assert line.period_start == today
        assert line.period_end == period_end(today, line.new_frequency)
        assert line.period_end > today


@SETTINGS
@given(subscriptions(), st.integers(-40, 400))
def test_credit_bounded_by_paid_period(sub, offset):
    today = sub.period_start + timedelta(days=offset)
    credit, unused, period = proration_credit(sub, today)
    paid = (sub.price_paid or 0) * sub.licenses
    assert 0 <= credit <= paid  # never more than what the period was charged
    if credit:  # exactly the unused share of what was paid, whatever the catalog says now
        assert abs(credit * period - paid * unused) <= period
    assert 0 <= unused <= period
    if sub.status != "active" or today >= sub.period_end:
        assert (credit, unused, period) == (0, 0, 0)


@SETTINGS
@given(subscriptions(), st.integers(1, 4), st.integers(0, 400), st.data())
def test_upgrade_never_negative(sub, step, offset, data):
    # An upgrade costs at least as much per license and period as the period was paid.
    old = sub.plan
    paid = sub.price_paid if sub.price_paid is not None else old.unit_price(sub.frequency)
    monthly = (paid if sub.frequency == "monthly" else old.monthly_cents) + data.draw(
        st.integers(0, 100_000))
    annual = (paid if sub.frequency == "annual" else old.annual_cents) + data.draw(
        st.integers(0, 1_000_000))
    new = PlanPrice("upgrade", "webinar", "Up", old.tier + step, monthly, annual, True)
    today = sub.period_start + timedelta(days=offset)
    q = quote_change([ChangeRequest(sub, new, sub.licenses, sub.frequency)],
                     country="IT", vat_number=None, balance=0, today=today)
    assert q.subtotal >= 0


def _mutations(order):
    """Yield orders that each differ from ``order`` in exactly one input."""
    items, country, vat_number, balance, today = order
    item = items[0]
    sub = item.subscription

    def with_sub(**changes):
        """Return the items with the first subscription changed."""
        new_sub = dataclasses.replace(sub, **changes)
        return [dataclasses.replace(item, subscription=new_sub)] + items[1:]

    def with_item(**changes):
        """Return the items with the first change request changed."""
        return [dataclasses.replace(item, **changes)] + items[1:]

    other_freq = "annual" if sub.frequency == "monthly" else "monthly"
    taken = {i.subscription.id for i in items}
    free_id = next(i for i in range(1, 20) if i not in taken)
    yield with_sub(id=free_id), country, vat_number, balance, today
    yield with_sub(version=sub.version + 1), country, vat_number, balance, today
    yield with_sub(status="canceled"), country, vat_number, balance, today
    yield with_sub(plan=dataclasses.replace(sub.plan, code="other")), country, vat_number, \
        balance, today
    yield with_sub(plan=dataclasses.replace(sub.plan, monthly_cents=sub.plan.monthly_cents + 1)), \
        country, vat_number, balance, today
    yield with_sub(plan=dataclasses.replace(sub.plan, annual_cents=sub.plan.annual_cents + 1)), \
        country, vat_number, balance, today
    yield with_sub(licenses=sub.licenses + 1), country, vat_number, balance, today
    yield with_sub(frequency=other_freq), country, vat_number, balance, today
    yield with_sub(period_start=sub.period_start - timedelta(days=1)), country, vat_number, \
        balance, today
    yield with_sub(period_end=sub.period_end + timedelta(days=1)), country, vat_number, \
        balance, today
    yield with_item(plan=dataclasses.replace(item.plan, code="other")), country, vat_number, \
        balance, today
    yield with_item(plan=dataclasses.replace(item.plan, monthly_cents=item.plan.monthly_cents + 1)), \
        country, vat_number, balance, today
    yield with_item(plan=dataclasses.replace(item.plan, annual_cents=item.plan.annual_cents + 1)), \
        country, vat_number, balance, today
    yield with_item(licenses=item.licenses + 1), country, vat_number, balance, today
    yield with_item(frequency="annual" if item.frequency == "monthly" else "monthly"), country, \
        vat_number, balance, today
    # The fingerprint covers the VAT treatment (a corrected number that prices the same keeps
    # a review valid): change the country or the number so that the treatment changes.
    reason = vat_treatment(country, vat_number).reason
    yield items, ("US" if reason == "it_vat" else "IT"), vat_number, balance, today
    yield (items, *{"it_vat": ("DE", None), "outside_eu": ("DE", "X"),
                    "eu_vat": (country, "X"), "reverse_charge": (country, None)}[reason],
           balance, today)
    yield items, country, vat_number, balance + 1, today
    yield items, country, vat_number, balance, today + timedelta(days=1)
    yield items[:-1] if len(items) > 1 else items + [
        ChangeRequest(dataclasses.replace(sub, id=free_id), item.plan, 1, "monthly")
    ], country, vat_number, balance, today


def _fingerprint(order):
    """Fingerprint a drawn order."""
    items, country, vat_number, balance, today = order
    return quote_fingerprint(items, country=country, vat_number=vat_number, balance=balance,
                             today=today)


@SETTINGS
@given(orders(), st.randoms(use_true_random=False))
def test_fingerprint_stable_and_order_independent(order, rnd):
    items = list(order[0])
    rnd.shuffle(items)
    shuffled = (items,) + order[1:]
    # Rebuilt equal values (not the same objects) must give the same fingerprint.
    rebuilt = ([dataclasses.replace(i, subscription=dataclasses.replace(i.subscription))
                for i in items],) + order[1:]
    fingerprint = _fingerprint(order)
    assert fingerprint == _fingerprint(shuffled) == _fingerprint(rebuilt)
    assert fingerprint == _quote(order).fingerprint
    assert len(fingerprint) == 64 and int(fingerprint, 16) >= 0


@SETTINGS
@given(orders())
def test_fingerprint_ignores_a_vat_number_that_prices_the_same(order):
    items, country, vat_number, balance, today = order
    if vat_treatment(country, vat_number).reason in ("it_vat", "outside_eu"):
        other = None if vat_number else "IT00743110157"
        assert _fingerprint((items, country, other, balance, today)) == _fingerprint(order)


@SETTINGS
@given(orders())
def test_fingerprint_changes_with_any_single_input(order):
    fingerprint = _fingerprint(order)
    seen = {fingerprint}
    for mutated in _mutations(order):
        changed = _fingerprint(mutated)
        assert changed != fingerprint
        seen.add(changed)
    assert len(seen) == 21


@SETTINGS
@given(plans(tier=2), frequencies, licenses, st.data())
def test_credit_follows_the_price_paid_through_catalog_changes(plan, frequency, count, data):
    """Any sequence of catalog changes and plan changes: each change's credit is at most what
    was charged for the unused days, and the balance kept by the ledger equals the sum of the
    credits added minus the credits used."""
    today = date(2026, 1, 1)
    sub = CurrentSubscription(1, "webinar", "Webinar", plan, count, frequency, today,
                              period_end(today, frequency), "active", 1, 0,
                              price_paid=plan.unit_price(frequency))
    balance = ledger = 0
    for step in range(data.draw(st.integers(1, 6))):
        # The operator reloads the catalog: any new prices for the plan.
        catalog_plan = dataclasses.replace(sub.plan, monthly_cents=data.draw(prices),
                                           annual_cents=data.draw(prices))
        today = today + timedelta(days=data.draw(st.integers(0, 400)))
        wanted = ChangeRequest(sub, catalog_plan, data.draw(licenses), data.draw(frequencies))
        q = quote_change([wanted], country="IT", vat_number=None, balance=balance, today=today,
                         catalog_version=step + 2)
        line = q.lines[0]
        unused = max(0, min((sub.period_end - today).days,
                            (sub.period_end - sub.period_start).days))
        period = (sub.period_end - sub.period_start).days
        assert line.credit * period <= sub.price_paid * sub.licenses * unused + period
        assert line.unit_price == catalog_plan.unit_price(wanted.frequency)  # bought at today's
        ledger += q.credit_added - q.applied
        balance = q.balance_after
        assert balance == ledger and balance >= 0
        sub = dataclasses.replace(sub, plan=catalog_plan, licenses=line.new_licenses,
                                  frequency=line.new_frequency, period_start=line.period_start,
                                  period_end=line.period_end, version=sub.version + 1,
                                  price_paid=line.unit_price)


@SETTINGS
@given(orders(), st.integers(1, 1000))
def test_the_catalog_version_is_part_of_the_fingerprint(order, version):
    items, country, vat_number, balance, today = order
    before = quote_change(items, country=country, vat_number=vat_number, balance=balance,
                          today=today, catalog_version=version)
    after = quote_change(items, country=country, vat_number=vat_number, balance=balance,
                         today=today, catalog_version=version + 1)
    assert before.catalog_version == version and after.catalog_version == version + 1
    assert before.fingerprint != after.fingerprint
