"""The review page's forms: the VAT number, and the order with its payment details."""
from wtforms import HiddenField, PasswordField, StringField, ValidationError

from portal.checkout.orders import PaymentInput
from portal.core.forms import PostForm, bounded
from portal.payments.gateway import CardDetails, parse_expiry

HOLDER_MAX = 200
EXPIRY_MAX = 20
CARD_NUMBER_MAX = 40
CVC_MAX = 8
#: The review's hidden fields are far shorter (orders.KEY_PATTERN, FINGERPRINT_PATTERN).
REVIEW_FIELD_MAX = 128
VERSIONS_MAX = 500


def seen_versions(raw):
    """``"1:3,2:1"`` → {1: 3, 2: 1}; anything malformed is dropped (it only shapes a notice)."""
    versions = {}
    for part in (raw or "")[:VERSIONS_MAX].split(","):
        sub_id, _sep, version = part.partition(":")
        if sub_id.isdigit() and version.isdigit() and len(sub_id + version) < 18:
            versions[int(sub_id)] = int(version)
    return versions


class OrderForm(PostForm):
    """Effettua l'ordine: the review it was sent from, and how the customer pays.

    Only parses: the order service checks the review fields, prices the cart again and
    validates the card (``portal.checkout.orders``). The card number and the CVC are
    password fields, so that rendering this form could never show them again, and they are
    left out of ``kept_card_fields``.
    """

    idempotency_key = HiddenField(filters=[bounded(REVIEW_FIELD_MAX)])
    fingerprint = HiddenField(filters=[bounded(REVIEW_FIELD_MAX)])
    versions = HiddenField(filters=[seen_versions])
    # "new" or a saved method's id (at most 11 digits); longer is neither
    payment_method = StringField(filters=[bounded(REVIEW_FIELD_MAX)])
    card_holder = StringField(filters=[bounded(HOLDER_MAX)])
    card_number = PasswordField(filters=[bounded(CARD_NUMBER_MAX)])
    card_expiry = StringField(filters=[bounded(EXPIRY_MAX)])
    card_cvc = PasswordField(filters=[bounded(CVC_MAX)])

    def payment(self):
        """The payment choice: a saved method's id, a new card, or nothing chosen."""
        choice = self.payment_method.data
        if choice == "new":
            month, year = parse_expiry(self.card_expiry.data)
            card = CardDetails(number=self.card_number.data, exp_month=month, exp_year=year,
                               cvc=self.card_cvc.data, holder=self.card_holder.data)
            return PaymentInput(card=card)
        if choice.isdigit() and len(choice) < 12:
            return PaymentInput(method_id=int(choice))
        return PaymentInput()

    def kept_card_fields(self):
        """What the card form may show again after a refusal: never the number or the CVC."""
        return {"payment_method": self.payment_method.data,
                "card_holder": self.card_holder.data,
                "card_expiry": self.card_expiry.data}
