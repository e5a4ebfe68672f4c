"""The login form, the language switcher, and the forms of a user's own account: asking for
a password reset, setting a new password, and the profile."""
from flask_babel import gettext as _
from wtforms import HiddenField, PasswordField, SelectField, StringField, ValidationError

from portal.accounts.users import EMAIL_MAX, NAME_MAX, normalize_email, one_line
from portal.core.forms import PostForm, bounded
from portal.core.i18n import available_locales, offered_locales

#: Longer than any password anyone types; hashing a pasted megabyte would be a cheap DoS.
PASSWORD_MAX = 1024
#: The shortest password the portal accepts (the operator's commands say the same).
PASSWORD_MIN = 8


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


class ForgotPasswordForm(PostForm):
    """"Password dimenticata?": an address. Its format is not checked: every answer is the
    same, so that the page tells nobody which addresses have a user."""

    email = StringField(filters=[bounded(EMAIL_MAX), normalize_email])


class NewPasswordForm(PostForm):
    """A new password, typed twice. (The messages are asked at validation time, in the
    request's language.)"""

    password = PasswordField(filters=[bounded(PASSWORD_MAX + 1)])
    confirm = PasswordField(filters=[bounded(PASSWORD_MAX + 1)])

    def validate_password(self, field):
        """Between ``PASSWORD_MIN`` and ``PASSWORD_MAX`` characters."""
        if len(field.data) < PASSWORD_MIN:
            raise ValidationError(_("The password must be at least %(min)s characters long.",
                                    min=PASSWORD_MIN))
        if len(field.data) > PASSWORD_MAX:
            raise ValidationError(_("The password can be at most %(max)s characters long.",
                                    max=PASSWORD_MAX))

    def validate_confirm(self, field):
        """The same password twice."""
        if field.data != self.password.data:
            raise ValidationError(_("The two passwords are not the same."))


class ChangePasswordForm(NewPasswordForm):
    """The profile's password change: the current password, then the new one twice."""

    current = PasswordField(filters=[bounded(PASSWORD_MAX)])


class ProfileForm(PostForm):
    """The profile: the user's name and the language of the pages and of their email."""

    name = StringField(filters=[one_line])
    locale = SelectField()

    def __init__(self, *args, **kwargs):
        """Offer the languages of this app's configuration."""
        super().__init__(*args, **kwargs)
        self.locale.choices = list(available_locales())

    def validate_name(self, field):
        """Present, at most ``NAME_MAX`` characters, no control characters."""
        if not field.data:
            raise ValidationError(_("Enter your name."))
        if len(field.data) > NAME_MAX or any(ord(c) < 32 for c in field.data):
            raise ValidationError(_("The name can be at most %(max)s characters long, on "
                                    "one line.", max=NAME_MAX))
