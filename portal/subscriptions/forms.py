"""The change form: plan, licenses, frequency, and the − and + buttons."""
from dataclasses import dataclass

from portal.billing import MAX_LICENSES, parse_licenses


@dataclass(frozen=True)
class ChangeForm:
    """The wanted change, read from the form (POST) or the query (the live summary's GET).

    It only reads: whether the choice is valid is ``portal.billing.validate_change``'s rule,
    the one the order asks too, so the values are kept as typed for it (``"abc"`` licenses
    has its own message). A field the request leaves out keeps the subscription's current
    value; a field sent twice counts once, with its first value.

    A plain dataclass rather than a WTForms form: the summary reads it on every click and
    keystroke, and a form built five field objects to read three parameters (about 5 % of
    the summary's work), with nothing to validate, render or protect (the page's own form
    carries the CSRF token; the summary is a GET).
    """

    plan: str
    licenses: str
    frequency: str
    #: "-1" or "+1" from the − and + submit buttons when JavaScript is off
    adjust: str = ""
    #: "add" from the "add to cart" button; anything else only asks for the summary
    intent: str = ""

    @classmethod
    def for_subscription(cls, source, subscription):
        """The choice in ``source`` (a ``MultiDict``: the request's form or query),
        defaulting to ``subscription`` as it is."""
        get = source.get
        return cls(plan=get("plan", subscription.plan.code),
                   licenses=get("licenses", str(subscription.licenses)),
                   frequency=get("frequency", subscription.frequency),
                   adjust=get("adjust", ""), intent=get("intent", ""))

    def choice(self):
        """``{"plan", "licenses", "frequency"}`` as the rules expect them, the − or + applied
        to a well-formed count (kept within 1 and ``MAX_LICENSES``)."""
        licenses = self.licenses
        count = parse_licenses(licenses)
        if self.adjust in ("-1", "+1") and count is not None:
            licenses = str(min(MAX_LICENSES, max(1, count + int(self.adjust))))
        return {"plan": self.plan, "licenses": licenses, "frequency": self.frequency}
