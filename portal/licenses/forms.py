"""The license page's forms: a user's switch, and a new member of the account."""
from flask_babel import gettext as _
from wtforms import HiddenField, SelectField, StringField, ValidationError

from portal.accounts.users import EMAIL_MAX, NAME_MAX, normalize_email, one_line, valid_email
from portal.core.forms import PostForm


def typed(field, limit):
    """What the user typed in ``field``, bounded, to show it again next to its error."""
    return (field.raw_data[0] if field.raw_data else "")[:limit]


class LicenseSwitchForm(PostForm):
    """One user's switch: enable ("1") or disable ("0"), and the list it was sent from."""

    enabled = SelectField(choices=["0", "1"])
    q = HiddenField()
    page = HiddenField()


class NewMemberForm(PostForm):
    """A new member of the account: a name on one line and an email address.

    The messages are asked at validation time (in the request's language), which is why the
    checks are methods rather than validator objects built when this module is imported.
    """

    name = StringField(filters=[one_line])
    email = StringField(filters=[normalize_email])

    def validate_name(self, field):
        """Present, at most ``NAME_MAX`` characters, no control characters."""
        if not field.data:
            raise ValidationError(_("Enter the user's name."))
        if len(field.data) > NAME_MAX or any(ord(c) < 32 for c in field.data):
            raise ValidationError(_("The name can be at most %(max)s characters long, on "
                                    "one line.", max=NAME_MAX))

    def validate_email(self, field):
        """Present and well formed. Whether another account uses it is not said (issue 20)."""
        if not field.data:
            raise ValidationError(_("Enter the user's email address."))
        if not valid_email(field.data):
            raise ValidationError(_("Enter a valid email address, such as name@example.com."))

    def kept(self):
        """The fields as typed (not normalized), bounded, for the form shown again."""
        return {"name": typed(self.name, NAME_MAX * 2), "email": typed(self.email, EMAIL_MAX * 2)}
