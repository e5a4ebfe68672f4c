"""Who and what the lifecycle acts on for an account: the billing contacts its renewal
orders are recorded for and its notices go to, and the card its renewals are charged to."""
from portal.core.db import Prepared
from portal.core.models import PaymentMethod, User

# Their SQL built once (portal.core.db.Prepared): a billing run asks for thousands.
_billing_contacts = Prepared(
    lambda account_id: User.select().where((User.account == account_id)
                                           & (User.role == "billing_contact"))
    .order_by(User.id))
_default_method = Prepared(
    lambda account_id, gateway_name: PaymentMethod.select()
    .where((PaymentMethod.account == account_id) & (PaymentMethod.gateway == gateway_name))
    .order_by(PaymentMethod.is_default.desc(), PaymentMethod.created_at.desc(),
              PaymentMethod.id.desc()).limit(1))


def billing_contacts(account_id):
    """The account's billing contacts, the first one first (a renewal order is recorded for
    it); empty when the account has none."""
    return _billing_contacts.rows(account_id)


def recipients(contacts):
    """Who the account's notices go to: every active billing contact, or the first one when
    none is active (a notice about money is never dropped for want of an addressee)."""
    return [user for user in contacts if user.active] or contacts[:1]


def default_method(account_id, gateway_name):
    """The card renewals are charged to: the default one, else the newest saved card."""
    return _default_method.first(account_id, gateway_name)


def needs_default(account_id, gateway_name):
    """True when none of the account's cards with ``gateway_name`` is its default: a card
    saved now becomes it (on the payment methods page or with an order), so that adding
    another card later never moves the renewals to it unasked."""
    return not PaymentMethod.select().where((PaymentMethod.account == account_id)
                                            & (PaymentMethod.gateway == gateway_name)
                                            & PaymentMethod.is_default).exists()
