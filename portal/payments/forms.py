"""A new card as typed on a page: the fields every card form shares."""
from wtforms import BooleanField, PasswordField, StringField

from portal.core.forms import PostForm, bounded
from portal.payments.gateway import CardDetails, parse_expiry

HOLDER_MAX = 200
EXPIRY_MAX = 20
CARD_NUMBER_MAX = 40
CVC_MAX = 8


class CardForm(PostForm):
    """A new card. Number and CVC are password fields: a page never shows them again, and
    only the gateway's token and the display details are stored."""

    card_holder = StringField(filters=[bounded(HOLDER_MAX)])
    card_number = PasswordField(filters=[bounded(CARD_NUMBER_MAX)])
    card_expiry = StringField(filters=[bounded(EXPIRY_MAX)])
    card_cvc = PasswordField(filters=[bounded(CVC_MAX)])

    def card(self):
        """The typed card, for ``Gateway.tokenize`` (which checks it)."""
        month, year = parse_expiry(self.card_expiry.data)
        return CardDetails(number=self.card_number.data, exp_month=month, exp_year=year,
                           cvc=self.card_cvc.data, holder=self.card_holder.data)

    def kept(self):
        """What the form may show again after a refusal: never the number or the CVC."""
        return {"card_holder": self.card_holder.data, "card_expiry": self.card_expiry.data}


class NewCardForm(CardForm):
    """Metodi di pagamento: add a card, optionally as the default for renewals."""

    make_default = BooleanField()


class PayNowForm(CardForm):
    """Paga ora: a saved card's id, or ``new`` with the card's details."""

    payment_method = StringField(filters=[bounded(20)])

    def saved_method_id(self):
        """The chosen saved card's id, or None for a new card (or nothing chosen)."""
        choice = self.payment_method.data
        return int(choice) if choice.isdigit() and len(choice) < 12 else None

