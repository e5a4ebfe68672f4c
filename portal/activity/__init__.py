"""Attività: the account's audit log, as a page."""
from portal.activity.views import bp

__all__ = ["bp"]
