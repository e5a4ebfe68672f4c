"""The links the portal sends by email: set a new password (24 hours) and accept an
invitation (7 days).

A link carries a token signed with ``SECRET_KEY`` (itsdangerous, which Flask already
depends on), so the database stores nothing that would let someone who reads it forge one,
and no table of tokens has to be cleaned. Each token is **single-use** because it names the
state it changes:

- a reset token carries a fingerprint of the user's password hash: setting a password (by
  this link, by another reset link, on the profile page or by the operator) changes the hash
  and every earlier link stops working;
- an invitation token names the invitation row, which accepting it deletes.

``check_*`` answer ``(object, problem)`` where ``problem`` is ``None``, ``"expired"`` or
``"invalid"`` (forged, used already, or no longer meaningful); the pages say which.
"""
import datetime as dt
import hashlib

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal.core.models import MemberInvitation, User

RESET_VALID_FOR = dt.timedelta(hours=24)
INVITATION_VALID_FOR = dt.timedelta(days=7)


def _serializer(purpose):
    """One serializer per purpose: a reset token is no invitation token, and vice versa."""
    return URLSafeTimedSerializer(current_app.secret_key, salt=f"portal.link.{purpose}")


def _password_fingerprint(user):
    """Changes whenever the password is set (the hash has a fresh salt every time)."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:20]


def _load(purpose, token, valid_for):
    """The token's payload, or (None, problem)."""
    try:
        return _serializer(purpose).loads(token, max_age=int(valid_for.total_seconds())), None
    except SignatureExpired:
        return None, "expired"
    except BadSignature:
        return None, "invalid"


def reset_token(user):
    """A link's token that lets ``user`` set a new password, once, for 24 hours."""
    return _serializer("reset").dumps([user.id, _password_fingerprint(user)])


def check_reset_token(token):
    """(user, None) for a usable reset token, else (None, "expired" | "invalid")."""
    payload, problem = _load("reset", token, RESET_VALID_FOR)
    if problem:
        return None, problem
    try:
        user_id, fingerprint = payload
    except (TypeError, ValueError):
        return None, "invalid"
    user = User.get_or_none(User.id == user_id)
    if user is None or not user.active or _password_fingerprint(user) != fingerprint:
        return None, "invalid"
    return user, None


def invitation_token(invitation):
    """A link's token that lets the invited address join the account, for 7 days."""
    return _serializer("invitation").dumps([invitation.id, invitation.email])


def check_invitation_token(token):
    """(invitation, None) for a usable invitation token, else (None, problem)."""
    payload, problem = _load("invitation", token, INVITATION_VALID_FOR)
    if problem:
        return None, problem
    try:
        invitation_id, email = payload
    except (TypeError, ValueError):
        return None, "invalid"
    invitation = MemberInvitation.get_or_none(
        (MemberInvitation.id == invitation_id) & (MemberInvitation.email == email))
    if invitation is None:
        return None, "invalid"
    return invitation, None
