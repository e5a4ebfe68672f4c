"""Fatture: the account's invoices."""
from portal.invoices.views import bp

__all__ = ["bp"]
