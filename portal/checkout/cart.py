"""The cart's queries: how many pending changes a user has (the header's badge)."""
from flask import g
from peewee import fn

from portal.core.db import Prepared
from portal.core.models import CartItem

_cart_count = Prepared(lambda user_id: CartItem.select(fn.COUNT(CartItem.id))
                       .where(CartItem.user == user_id), row=tuple)


def cart_count(user):
    """How many pending changes the user's cart holds (the badge).

    Remembered for the request: several parts of a page may ask. No view writes to the cart
    and then renders a page showing the badge (they redirect); one that does must
    ``g.pop("cart_counts", None)`` after the write.
    """
    counts = g.setdefault("cart_counts", {})
    if user.id not in counts:
        counts[user.id] = _cart_count.first(int(user.id))[0]
    return counts[user.id]


def remember_cart_count(user, count):
    """The badge's count as a view read it with the cart's rows (``cart_entries``, the
    user's items for the account's subscriptions): the page asks no query for it."""
    g.setdefault("cart_counts", {})[user.id] = count
