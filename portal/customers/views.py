"""Dati di fatturazione: the billing contact's page of the account's billing details."""
from flask import Blueprint, flash, url_for
from flask import request
from flask_babel import gettext as _
from flask_login import current_user

from portal.core.access import billing_contact_required, current_account
from portal.core.http import no_store, render, see_other
from portal.customers.details import details_problems, stored_details, submit_details

bp = Blueprint("customers", __name__)


def page(status=200, values=None, errors=None):
    """The page (or its form block for htmx) with ``values`` and ``errors``."""
    account = current_account()
    return no_store(render(
        "customers/billing_details.html", block="billing_details", status=status,
        account=account, values=values or stored_details(account), errors=errors or {},
        incomplete=details_problems(account)))


@bp.get("/billing-details")
@billing_contact_required
def edit():
    """The account's billing details, with what is still missing for an invoice."""
    return page()


@bp.post("/billing-details")
@billing_contact_required
def update():
    """Save valid details (422 with every field's problem otherwise)."""
    result = submit_details(current_account(), current_user.id, request.form)
    if result.errors:
        return page(422, values=result.values, errors=result.errors)
    if result.unchecked:
        flash(_("Billing details saved. The EU VAT service (VIES) could not be reached: the "
                "VAT number is accepted for now and will be checked again automatically."),
              "warning")
    elif result.saved:
        flash(_("Billing details saved."), "success")
    return see_other(url_for("customers.edit"))
