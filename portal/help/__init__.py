"""Help pages: the Corporate billing portal FAQ and support contacts."""
from portal.help.views import bp

__all__ = ["bp"]
