"""Who and what the lifecycle acts on for an account: the billing contact its renewal
orders and notices go to, and the card its renewals are charged to."""
from portal.core.models import PaymentMethod, User


def billing_contact(account_id):
    """Who a renewal order is recorded for: the account's first billing contact."""
    return (User.select().where((User.account == account_id)
                                & (User.role == "billing_contact")).order_by(User.id).first())


def default_method(account_id, gateway_name):
    """The card renewals are charged to: the default one, else the newest saved card."""
    return (PaymentMethod.select()
            .where((PaymentMethod.account == account_id)
                   & (PaymentMethod.gateway == gateway_name))
            .order_by(PaymentMethod.is_default.desc(), PaymentMethod.created_at.desc(),
                      PaymentMethod.id.desc()).first())
