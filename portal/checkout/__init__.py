"""Cart, review ("Completa transazione"), placing the order and its confirmation."""
from portal.checkout.views import bp, init_app

__all__ = ["bp", "init_app"]
