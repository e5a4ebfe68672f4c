"""What an invoice says, frozen when it is issued (SPEC §3.3).

A snapshot is a plain JSON document: the seller and buyer as they were, each line with the
figures it was sold at, the VAT treatment and the totals, in integer cents. The invoice page,
the PDF and the FatturaPA file are all drawn from it, so changing the catalog, the seller's
settings or the customer's billing details later never changes an issued invoice. Texts are
stored as data (product, plan, frequency, period), and worded in the reader's language when
shown.

An order whose total is negative (the unused time is worth more than the new period) is
documented as a **credit note**: its amounts are the credit given, VAT included, which is
exactly what the order added to the customer's credit balance.
"""
from decimal import Decimal

#: Bumped when the document's shape changes; readers accept every version they know.
SNAPSHOT_VERSION = 1


def seller_details(config):
    """The seller as the configuration describes it now (frozen into each new invoice)."""
    return {
        "name": config["SELLER_NAME"],
        "address": config["SELLER_ADDRESS"],
        "street": config["SELLER_STREET"],
        "postal_code": config["SELLER_POSTAL_CODE"],
        "city": config["SELLER_CITY"],
        "province": config["SELLER_PROVINCE"],
        "country": "IT",
        "vat_number": config["SELLER_VAT_NUMBER"],
        "tax_regime": config["SELLER_TAX_REGIME"],
    }


def buyer_details(account):
    """The buyer's billing details as they are now; ``address`` is the free-form address of
    accounts that have not completed their details yet."""
    return {
        "name": account.name,
        "address": account.address or "",
        "street": account.street,
        "postal_code": account.postal_code,
        "city": account.city,
        "province": account.province,
        "country": account.country,
        "vat_number": account.vat_number,
        "codice_fiscale": account.codice_fiscale,
        "sdi_code": account.sdi_code,
        "pec": account.pec,
        "vies_status": account.vies_status,
        "vies_name": account.vies_name,
    }


def document_kind(order):
    """"credit_note" for an order whose total is negative, else "invoice"."""
    return "credit_note" if order.total_cents < 0 else "invoice"


def build_snapshot(*, number, issued_on, order, lines, currency, seller, buyer, card=None,
                   corrects=None):
    """The snapshot of an invoice (or credit note) for ``order`` and its ``lines``.

    ``lines`` are OrderLine rows with ``new_plan`` loaded; ``card`` is (brand, last4) of the
    card charged, if any; ``corrects`` is {"number", "issued_on"} of the invoice a credit
    note corrects.
    """
    kind = document_kind(order)
    sign = -1 if kind == "credit_note" else 1
    rows = []
    for line in lines:
        rows.append({
            "kind": "charge", "subscription_id": line.subscription_id,
            "product": line.product_name, "plan": line.new_plan.name,
            "frequency": line.new_frequency, "licenses": line.new_licenses,
            "unit_price_cents": line.unit_price_cents * sign,
            "period_start": line.period_start.isoformat(),
            "period_end": line.period_end.isoformat(),
            "amount_cents": line.charge_cents * sign,
        })
        if line.credit_cents:
            rows.append({
                "kind": "credit", "subscription_id": line.subscription_id,
                "product": line.product_name, "unused_days": line.unused_days,
                "period_days": line.period_days, "amount_cents": -line.credit_cents * sign,
            })
    if kind == "credit_note":
        subtotal = -order.subtotal_cents
        total = order.credit_added_cents
        totals = {"subtotal_cents": subtotal, "vat_cents": total - subtotal,
                  "total_cents": total, "applied_cents": 0, "due_cents": 0,
                  "credit_added_cents": order.credit_added_cents}
    else:
        totals = {"subtotal_cents": order.subtotal_cents, "vat_cents": order.vat_cents,
                  "total_cents": order.total_cents, "applied_cents": order.applied_cents,
                  "due_cents": order.due_cents,
                  "credit_added_cents": order.credit_added_cents}
    if sum(row["amount_cents"] for row in rows) != totals["subtotal_cents"]:
        raise ValueError(f"the lines of order {order.id} do not add up to its subtotal")
    return {
        "version": SNAPSHOT_VERSION,
        "kind": kind,
        "number": number,
        "issued_on": issued_on.isoformat(),
        "order_id": order.id,
        "currency": currency,
        "seller": seller,
        "buyer": buyer,
        "lines": rows,
        "vat_rate": str(Decimal(order.vat_rate)),
        "vat_reason": order.vat_reason,
        **totals,
        "card": {"brand": card[0], "last4": card[1]} if card else None,
        "corrects": corrects,
    }
