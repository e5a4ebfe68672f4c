"""FatturaPA: the Italian electronic invoice (format FPR12, schema 1.2.2) of an issued invoice.

The file is built from the invoice's snapshot only, so its amounts are the invoice's to the
cent, and every file is validated against the official schema vendored in ``schema/`` before
it is offered. References: "Specifiche tecniche FatturaPA 1.2.2" and the "Rappresentazione
tabellare del tracciato", Agenzia delle Entrate (https://www.fatturapa.gov.it).
"""
from decimal import Decimal
from pathlib import Path

from lxml import etree

NAMESPACE = "http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"
SCHEMA_FILE = Path(__file__).parent / "schema" / "FatturaPA_v1.2.2.xsd"

#: TipoDocumento: TD01 invoice, TD04 credit note.
DOCUMENT_TYPES = {"invoice": "TD01", "credit_note": "TD04"}
#: CodiceDestinatario of a recipient reached by PEC or in the tax authority's reserved area,
#: and of a recipient abroad.
NO_CODE = "0000000"
ABROAD = "XXXXXXX"
#: Services to businesses in other EU countries (the customer reverse-charges the VAT) and
#: services to customers outside the EU are both outside the scope of Italian VAT under
#: art. 7-ter DPR 633/72: Natura N2.1 ("non soggette ad IVA ai sensi degli artt. da 7 a
#: 7-septies del DPR 633/72"); the legal reference says which case applies.
NATURE = {
    "reverse_charge": ("N2.1", "Inversione contabile, art. 7-ter DPR 633/72; "
                               "art. 196 Direttiva 2006/112/CE"),
    "outside_eu": ("N2.1", "Operazione non soggetta, art. 7-ter DPR 633/72"),
}
#: ModalitaPagamento MP08: payment card; TP02: payment in full.
CARD_PAYMENT = "MP08"
_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class InvalidFatturaPA(Exception):
    """A generated file does not validate against the official schema (a bug: never sent)."""


def _schema():
    """The official schema, parsed once (lxml resolves the relative xmldsig import)."""
    if _schema.cached is None:
        _schema.cached = etree.XMLSchema(etree.parse(str(SCHEMA_FILE)))
    return _schema.cached


_schema.cached = None


def progressive(year, sequence):
    """The file's 5-character progressive (``ProgressivoInvio`` and file name): the year as
    one base-36 digit (repeating every 36 years) and the yearly sequence as four, so numbers
    never repeat between years. 1,679,615 invoices a year at most."""
    if not 0 < sequence < 36 ** 4:
        raise ValueError(f"sequence {sequence} does not fit a FatturaPA progressive")
    digits = _ALPHANUMERIC[(year - 2000) % 36]
    for power in (3, 2, 1, 0):
        digits += _ALPHANUMERIC[(sequence // 36 ** power) % 36]
    return digits


def seller_id(vat_number):
    """(country, code) of an Italian VAT number with or without its IT prefix."""
    vat_number = vat_number.replace(" ", "").upper()
    return ("IT", vat_number[2:]) if vat_number.startswith("IT") else ("IT", vat_number)


def file_name(snapshot, year, sequence):
    """``IT<seller VAT>_<progressive>.xml``, the name the SdI expects."""
    country, code = seller_id(snapshot["seller"]["vat_number"])
    return f"{country}{code}_{progressive(year, sequence)}.xml"


def amount(cents):
    """Integer cents as the schema's decimal text (``-12.30``), exactly."""
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def rate_text(rate):
    """A VAT rate fraction ("0.22") as a percentage with two decimals ("22.00")."""
    return str((Decimal(rate) * 100).quantize(Decimal("0.01")))


def latin(text, limit):
    """Text the schema's Latin-1 types accept, at most ``limit`` characters."""
    text = " ".join(str(text).split())
    return text.encode("latin-1", "replace").decode("latin-1")[:limit]


def _add(parent, tag, text=None):
    """A child element (unqualified, as the schema wants), with text if given."""
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _address(parent, tag, party):
    """A ``Sede``: Italian addresses in full, foreign ones with CAP 00000 and no province."""
    sede = _add(parent, tag)
    italy = party.get("country") == "IT"
    # Invoices issued before the billing details existed have a free-form address only.
    street = party.get("street") or next(iter((party.get("address") or "").splitlines()), "")
    _add(sede, "Indirizzo", latin(street or "-", 60))
    postal = party.get("postal_code") or ""
    _add(sede, "CAP", postal if italy and len(postal) == 5 and postal.isdigit() else "00000")
    _add(sede, "Comune", latin(party.get("city") or "-", 60))
    if italy and party.get("province"):
        _add(sede, "Provincia", party["province"])
    _add(sede, "Nazione", party.get("country") or "IT")
    return sede


def _recipient(snapshot):
    """(CodiceDestinatario, PECDestinatario or None) for the buyer."""
    buyer = snapshot["buyer"]
    if buyer.get("country") != "IT":
        return ABROAD, None
    if buyer.get("sdi_code"):
        return buyer["sdi_code"], None
    return NO_CODE, buyer.get("pec") or None


def _description(line):
    """The line's description in Italian, the language of the electronic invoice."""
    if line["kind"] == "credit":
        return (f"{line['product']}: credito per il periodo non utilizzato "
                f"({line['unused_days']} giorni su {line['period_days']})")
    frequency = "mensile" if line["frequency"] == "monthly" else "annuale"
    return (f"{line['product']} {line['plan']}, abbonamento {frequency}, "
            f"{line['licenses']} licenze")


def build_xml(snapshot, year, sequence):
    """The FatturaPA document (an lxml element tree) of an invoice's snapshot."""
    seller, buyer = snapshot["seller"], snapshot["buyer"]
    root = etree.Element(etree.QName(NAMESPACE, "FatturaElettronica"), versione="FPR12",
                         nsmap={"p": NAMESPACE})
    header = _add(root, "FatturaElettronicaHeader")
    transmission = _add(header, "DatiTrasmissione")
    country, code = seller_id(seller["vat_number"])
    sender = _add(transmission, "IdTrasmittente")
    _add(sender, "IdPaese", country)
    _add(sender, "IdCodice", code)
    _add(transmission, "ProgressivoInvio", progressive(year, sequence))
    _add(transmission, "FormatoTrasmissione", "FPR12")
    recipient_code, pec = _recipient(snapshot)
    _add(transmission, "CodiceDestinatario", recipient_code)
    if pec:
        _add(transmission, "PECDestinatario", pec)

    supplier = _add(header, "CedentePrestatore")
    registry = _add(supplier, "DatiAnagrafici")
    vat_id = _add(registry, "IdFiscaleIVA")
    _add(vat_id, "IdPaese", country)
    _add(vat_id, "IdCodice", code)
    _add(_add(registry, "Anagrafica"), "Denominazione", latin(seller["name"], 80))
    _add(registry, "RegimeFiscale", seller.get("tax_regime") or "RF01")
    _address(supplier, "Sede", seller)

    customer = _add(header, "CessionarioCommittente")
    registry = _add(customer, "DatiAnagrafici")
    buyer_country = buyer.get("country") or "IT"
    vat_number = (buyer.get("vat_number") or "").upper()
    if vat_number:
        vat_id = _add(registry, "IdFiscaleIVA")
        prefix = vat_number[:2]
        has_prefix = prefix.isalpha() and prefix in (buyer_country, "EL")
        _add(vat_id, "IdPaese", buyer_country)
        _add(vat_id, "IdCodice", vat_number[2:] if has_prefix else vat_number[:28])
    if buyer_country == "IT" and buyer.get("codice_fiscale"):
        _add(registry, "CodiceFiscale", buyer["codice_fiscale"])
    elif not vat_number:
        # A customer abroad without a VAT number: the identifier the specification
        # prescribes for foreign subjects without one.
        vat_id = _add(registry, "IdFiscaleIVA")
        _add(vat_id, "IdPaese", buyer_country)
        _add(vat_id, "IdCodice", "99999999999")
    _add(_add(registry, "Anagrafica"), "Denominazione", latin(buyer["name"], 80))
    _address(customer, "Sede", buyer)

    body = _add(root, "FatturaElettronicaBody")
    general = _add(body, "DatiGenerali")
    document = _add(general, "DatiGeneraliDocumento")
    _add(document, "TipoDocumento", DOCUMENT_TYPES[snapshot["kind"]])
    _add(document, "Divisa", snapshot["currency"])
    _add(document, "Data", snapshot["issued_on"])
    _add(document, "Numero", snapshot["number"])
    _add(document, "ImportoTotaleDocumento", amount(snapshot["total_cents"]))
    reason = snapshot["vat_reason"]
    if reason in NATURE:
        _add(document, "Causale", latin(NATURE[reason][1], 200))
    if snapshot.get("corrects"):
        related = _add(general, "DatiFattureCollegate")
        _add(related, "IdDocumento", snapshot["corrects"]["number"])
        _add(related, "Data", snapshot["corrects"]["issued_on"])

    goods = _add(body, "DatiBeniServizi")
    nature = NATURE.get(reason)
    rate = "0.00" if nature else rate_text(snapshot["vat_rate"])
    for number, line in enumerate(snapshot["lines"], start=1):
        detail = _add(goods, "DettaglioLinee")
        _add(detail, "NumeroLinea", str(number))
        _add(detail, "Descrizione", latin(_description(line), 1000))
        if line["kind"] == "charge":
            _add(detail, "Quantita", f"{line['licenses']}.00")
            _add(detail, "DataInizioPeriodo", line["period_start"])
            _add(detail, "DataFinePeriodo", line["period_end"])
            _add(detail, "PrezzoUnitario", amount(line["unit_price_cents"]))
        else:
            _add(detail, "Quantita", "1.00")
            _add(detail, "PrezzoUnitario", amount(line["amount_cents"]))
        _add(detail, "PrezzoTotale", amount(line["amount_cents"]))
        _add(detail, "AliquotaIVA", rate)
        if nature:
            _add(detail, "Natura", nature[0])
    summary = _add(goods, "DatiRiepilogo")
    _add(summary, "AliquotaIVA", rate)
    if nature:
        _add(summary, "Natura", nature[0])
    _add(summary, "ImponibileImporto", amount(snapshot["subtotal_cents"]))
    _add(summary, "Imposta", amount(snapshot["vat_cents"]))
    if nature:
        _add(summary, "RiferimentoNormativo", latin(nature[1], 100))
    else:
        _add(summary, "EsigibilitaIVA", "I")

    if snapshot["kind"] == "invoice" and snapshot["due_cents"] > 0:
        payment = _add(body, "DatiPagamento")
        _add(payment, "CondizioniPagamento", "TP02")
        detail = _add(payment, "DettaglioPagamento")
        _add(detail, "ModalitaPagamento", CARD_PAYMENT)
        _add(detail, "ImportoPagamento", amount(snapshot["due_cents"]))
    return etree.ElementTree(root)


def render_xml(snapshot, year, sequence):
    """The file's bytes, validated against the official schema (``InvalidFatturaPA``)."""
    tree = build_xml(snapshot, year, sequence)
    schema = _schema()
    if not schema.validate(tree):
        raise InvalidFatturaPA(str(schema.error_log))
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def validate(data):
    """Validate FatturaPA bytes against the official schema; returns the error log (empty
    when valid)."""
    schema = _schema()
    schema.validate(etree.fromstring(data))
    return [str(error) for error in schema.error_log]
