"""The demo catalog of SPEC section 5 as the pricing engine's values, for the engine's tests
(written out here rather than read from catalog.toml, so the tests pin the prices)."""
from portal.billing import PlanPrice

LITE = PlanPrice("webinar-lite", "webinar", "Lite", 1, 5900, 58800, True)
STANDARD = PlanPrice("webinar-standard", "webinar", "Standard", 2, 11900, 118800, True)
PRO = PlanPrice("webinar-pro", "webinar", "Pro", 3, 23900, 238800, True)
ENTERPRISE = PlanPrice("webinar-enterprise", "webinar", "Enterprise", 4, None, None, False)
PROFESSIONAL = PlanPrice("meeting-professional", "meeting", "Professional", 1, 1400, 14400, True)
BUSINESS = PlanPrice("meeting-business", "meeting", "Business", 2, 1900, 19200, True)
PLANS = {p.code: p for p in (LITE, STANDARD, PRO, ENTERPRISE, PROFESSIONAL, BUSINESS)}
