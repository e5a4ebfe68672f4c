"""Who and what the lifecycle acts on for an account: the billing contact its renewal
orders and notices go to, and the card its renewals are charged to."""
from portal.core.db import Prepared
from portal.core.models import PaymentMethod, User

# Their SQL built once (portal.core.db.Prepared): a billing run asks for thousands.
_billing_contact = Prepared(
    lambda account_id: User.select().where((User.account == account_id)
                                           & (User.role == "billing_contact"))
    .order_by(User.id).limit(1))
_default_method = Prepared(
    lambda account_id, gateway_name: PaymentMethod.select()
    .where((PaymentMethod.account == account_id) & (PaymentMethod.gateway == gateway_name))
    .order_by(PaymentMethod.is_default.desc(), PaymentMethod.created_at.desc(),
              PaymentMethod.id.desc()).limit(1))


def billing_contact(account_id):
    """Who a renewal order is recorded for: the account's first billing contact."""
    return _billing_contact.first(account_id)


def default_method(account_id, gateway_name):
    """The card renewals are charged to: the default one, else the newest saved card."""
    return _default_method.first(account_id, gateway_name)
