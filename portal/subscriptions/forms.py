"""The change form: plan, licenses, frequency, and the − and + buttons."""
from wtforms import Form, StringField

from portal.billing import MAX_LICENSES, parse_licenses


class ChangeForm(Form):
    """The wanted change, read from the form (POST) or the query (the live summary's GET).

    A plain ``wtforms.Form``, not a ``FlaskForm``: the summary asks for it on every click
    and keystroke, so it only parses, and binds to whichever source it is given. Whether
    the choice is valid is ``portal.billing.validate_change``'s rule, the one the order asks
    too; the values are kept as typed for it (``"abc"`` licenses has its own message).
    A field the request leaves out keeps the subscription's current value (the keyword
    arguments).
    """

    plan = StringField()
    licenses = StringField()
    frequency = StringField()
    #: "-1" or "+1" from the − and + submit buttons when JavaScript is off
    adjust = StringField()
    #: "add" from the "add to cart" button; anything else only asks for the summary
    intent = StringField()

    @classmethod
    def for_subscription(cls, source, subscription):
        """The choice in ``source``, defaulting to ``subscription`` as it is."""
        return cls(source, plan=subscription.plan.code, licenses=str(subscription.licenses),
                   frequency=subscription.frequency)

    def choice(self):
        """``{"plan", "licenses", "frequency"}`` as the rules expect them, the − or + applied
        to a well-formed count (kept within 1 and ``MAX_LICENSES``)."""
        licenses = self.licenses.data
        count = parse_licenses(licenses)
        if self.adjust.data in ("-1", "+1") and count is not None:
            licenses = str(min(MAX_LICENSES, max(1, count + int(self.adjust.data))))
        return {"plan": self.plan.data, "licenses": licenses, "frequency": self.frequency.data}
