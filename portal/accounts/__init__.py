"""Accounts and users: login, logout and the language switcher."""
from portal.accounts.views import bp

__all__ = ["bp"]
