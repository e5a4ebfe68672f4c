"""The login form and the language switcher."""
from wtforms import HiddenField, PasswordField, SelectField, StringField

from portal.accounts.users import EMAIL_MAX
from portal.core.forms import PostForm, bounded
from portal.core.i18n import offered_locales

#: Longer than any password anyone types; hashing a pasted megabyte would be a cheap DoS.
PASSWORD_MAX = 1024


class LoginForm(PostForm):
    """Email and password, bounded. Nothing is "required" here: an empty or unknown login
    takes the same path, and the same time, as a wrong password (``authenticate``)."""

    email = StringField(filters=[bounded(EMAIL_MAX)])
    password = PasswordField(filters=[bounded(PASSWORD_MAX)])


class LocaleForm(PostForm):
    """The language switcher in every page's header: one of the configured languages."""

    locale = SelectField()
    next = HiddenField()

    def __init__(self, *args, **kwargs):
        """Offer the languages of this app's configuration."""
        super().__init__(*args, **kwargs)
        self.locale.choices = offered_locales()
