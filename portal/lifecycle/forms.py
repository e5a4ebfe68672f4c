"""The lifecycle's own form: the wanted automatic-renewal setting."""
from wtforms import StringField

from portal.core.forms import PostForm, bounded


class AutoRenewForm(PostForm):
    """Disattiva / Attiva rinnovo automatico: the wanted value, ``on`` or ``off``."""

    auto_renew = StringField(filters=[bounded(3)])

    def wanted(self):
        """True, False, or None for anything else."""
        return {"on": True, "off": False}.get(self.auto_renew.data)
