"""An invitation becomes a member of its account: by its link (the address owner sets a
password) or by the operator (``flask users accept-invitation``)."""
from peewee import IntegrityError

from portal.core.db import db
from portal.core.models import MemberInvitation, User, audit


class InvitationUnusable(Exception):
    """The invitation was accepted already (or withdrawn), or its address has a user: one
    address belongs to one account, so it cannot join a second one."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason  # "used" | "address_taken"


def accept_invitation(invitation, password, locale=None):
    """The invitation's member, with ``password``; in the caller's write transaction.

    The invitation row is deleted first: of two acceptances at once, one deletes it and
    the other finds it gone."""
    if User.select().where(User.email == invitation.email).exists():
        raise InvitationUnusable("address_taken")
    if MemberInvitation.delete().where(MemberInvitation.id == invitation.id).execute() != 1:
        raise InvitationUnusable("used")
    user = User(account=invitation.account_id, email=invitation.email, name=invitation.name,
                role="member", locale=locale)
    user.set_password(password)
    try:
        with db.atomic():
            user.save(force_insert=True)
    except IntegrityError:  # the address got a user meanwhile
        raise InvitationUnusable("address_taken") from None
    audit(invitation.account_id, invitation.invited_by_id, "user.added", user_id=user.id,
          email=invitation.email, role="member")
    return user
