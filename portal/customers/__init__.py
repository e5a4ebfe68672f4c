"""Dati di fatturazione: the account's billing details, and the VIES check of EU VAT
numbers."""
from portal.customers.views import bp

__all__ = ["bp"]
