"""Accounts and users: login, logout and the language switcher (``views``), the emailed
links to reset a password or accept an invitation (``recovery``), and the profile."""
from portal.accounts.views import bp

__all__ = ["bp"]
