"""Users as the portal stores them: how an email address is normalized and checked."""
import re

#: The longest email address (RFC 5321 path limit).
EMAIL_MAX = 254
#: The longest name of a user.
NAME_MAX = 200

# Deliberately loose: one @, no spaces, a dot in the domain. Deliverability is the mail
# server's business; this only catches typing mistakes.
EMAIL_FORMAT = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")


def normalize_email(raw):
    """Emails are case-insensitive and stored lower-case."""
    return (raw or "").strip().lower()


def valid_email(email):
    """True for an address worth storing (already normalized)."""
    return len(email) <= EMAIL_MAX and bool(EMAIL_FORMAT.fullmatch(email))


def one_line(raw):
    """A name as stored: runs of whitespace (newlines too) become one space, none at the ends."""
    return " ".join((raw or "").split())
