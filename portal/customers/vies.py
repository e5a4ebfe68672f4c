"""VIES, the European Commission's VAT number check, over its REST interface.

Answers are short-lived facts about a number: ``valid`` (with the registered name and
address), ``invalid``, or ``unavailable`` (the member state's service is down, busy, slow or
unreachable). Timeouts are short (``VIES_TIMEOUT``): an unavailable answer never blocks a
customer, the number is accepted provisionally and checked again later
(``recheck_unchecked``). Interface: https://ec.europa.eu/taxation_customs/vies/ (REST API,
``GET /ms/{country}/vat/{number}``).
"""
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: userError values that say the number itself is wrong (anything else but VALID is the
#: service's trouble, not the customer's).
INVALID_ANSWERS = {"INVALID", "INVALID_INPUT"}
MAX_ANSWER = 64 * 1024


@dataclass(frozen=True)
class ViesAnswer:
    """``status`` valid | invalid | unavailable; name and address when valid (may be "---")."""

    status: str
    name: str | None = None
    address: str | None = None


UNAVAILABLE = ViesAnswer("unavailable")


def _text(value):
    """VIES writes "---" for a name it may not disclose."""
    value = " ".join(str(value or "").split())
    return None if value in ("", "---") else value[:200]


def check_vat_number(vat_number, base_url, timeout):
    """Ask VIES about a normalised EU VAT number ("DE136695976")."""
    country, number = vat_number[:2], vat_number[2:]
    url = (f"{base_url.rstrip('/')}/ms/{urllib.parse.quote(country)}/vat/"
           f"{urllib.parse.quote(number)}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read(MAX_ANSWER))
    except (OSError, ValueError) as error:  # timeouts, refused connections, HTTP errors, junk
        log.warning("VIES unavailable for %s: %s", country, error)
        return UNAVAILABLE
    if not isinstance(answer, dict):
        return UNAVAILABLE
    if answer.get("isValid") is True:
        return ViesAnswer("valid", _text(answer.get("name")), _text(answer.get("address")))
    if answer.get("userError") in INVALID_ANSWERS or (
            answer.get("isValid") is False and answer.get("userError") in (None, "VALID")):
        return ViesAnswer("invalid")
    return UNAVAILABLE
