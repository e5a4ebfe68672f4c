"""Reading, checking and saving an account's billing details (rules: portal/billing/details.py).

Saving an EU VAT number from outside Italy asks VIES first, outside any transaction: an
invalid answer refuses the number (no reverse charge on it), an unavailable service accepts it
provisionally as ``unchecked``, and ``recheck_unchecked`` (the worker, or ``flask vat
recheck``) asks again later.
"""
from dataclasses import dataclass

from flask import current_app

from portal.billing import SELLER_COUNTRY, is_eu_country
from portal.billing.details import FIELDS, billing_details_problems, validate_billing_details
from portal.core.db import write_transaction
from portal.core.i18n import country_codes
from portal.core.models import Account, audit, utcnow
from portal.customers.vies import check_vat_number


def stored_details(account):
    """The account's billing details as the form's values."""
    return {field: getattr(account, field) or "" for field in FIELDS}


def details_problems(account):
    """{field: error code} of the stored details; empty when an invoice can be issued."""
    return billing_details_problems(stored_details(account), country_codes())


def needs_vies(details):
    """Whether ``details``' VAT number is one VIES checks (EU, outside Italy)."""
    return bool(details.vat_number) and details.country != SELLER_COUNTRY and is_eu_country(
        details.country)


def vies_check(vat_number):
    """VIES's answer with the configured endpoint and timeout."""
    config = current_app.config
    return check_vat_number(vat_number, config["VIES_URL"], float(config["VIES_TIMEOUT"]))


@dataclass
class Submitted:
    """The outcome of a submitted form: ``errors`` (nothing saved) or ``saved``."""

    errors: dict
    saved: bool = False
    unchecked: bool = False
    values: dict | None = None


def submit_details(account, user_id, raw):
    """Validate ``raw`` (the form), ask VIES when needed and save: a ``Submitted``."""
    values = {field: (raw.get(field) or "")[:300] for field in FIELDS}
    details, errors = validate_billing_details(values, country_codes())
    if errors:
        return Submitted(errors=errors, values=values)
    vies = None
    unchanged_number = (details.vat_number == account.vat_number
                        and details.country == account.country)
    if needs_vies(details) and not (unchanged_number and account.vies_status == "valid"):
        answer = vies_check(details.vat_number)
        if answer.status == "invalid":
            return Submitted(errors={"vat_number": "vies_invalid"}, values=values)
        vies = answer
    saved = save_details(account.id, user_id, details, vies)
    return Submitted(errors={}, saved=saved, values=values,
                     unchecked=bool(vies and vies.status == "unavailable"))


def save_details(account_id, user_id, details, vies):
    """Write the details (and the VIES answer, if one was asked) in one transaction;
    False when nothing changed."""
    values = details.as_dict()
    if vies is not None:
        values.update(vies_status="valid" if vies.status == "valid" else "unchecked",
                      vies_name=vies.name, vies_checked_at=utcnow())
    elif not (details.vat_number and needs_vies(details)):
        values.update(vies_status=None, vies_name=None, vies_checked_at=None)
    with write_transaction():
        current = Account.get_by_id(account_id)
        old = {key: getattr(current, key) for key in values}
        changed = {key: value for key, value in values.items() if old[key] != value}
        if not changed:
            return False
        Account.update(**changed).where(Account.id == account_id).execute()
        audit(account_id, user_id, "account.billing_details_changed",
              fields=sorted(key for key in changed if key != "vies_checked_at"))
    return True


def recheck_unchecked():
    """Ask VIES again about every number accepted provisionally; [(account id, status)].

    A number VIES now finds invalid stops getting the reverse charge
    (``Account.taxable_vat_number``); one still unanswered stays ``unchecked``.
    """
    done = []
    for account in Account.select().where(Account.vies_status == "unchecked"):
        answer = vies_check(account.vat_number)
        if answer.status == "unavailable":
            done.append((account.id, "unchecked"))
            continue
        with write_transaction():
            updated = (Account.update(vies_status=answer.status, vies_name=answer.name,
                                      vies_checked_at=utcnow())
                       .where((Account.id == account.id)
                              & (Account.vat_number == account.vat_number)
                              & (Account.vies_status == "unchecked")).execute())
            if updated:
                audit(account.id, None, "account.vat_number_checked",
                      vat_number=account.vat_number, status=answer.status)
        done.append((account.id, answer.status))
    return done
