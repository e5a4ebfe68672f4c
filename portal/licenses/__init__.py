"""Assegna licenze: which users have a product enabled, and adding users."""
from portal.licenses.views import bp

__all__ = ["bp"]
