"""Static help pages: the Corporate billing portal FAQ and support contacts."""
from flask import Blueprint

from portal.core.http import render

bp = Blueprint("pages", __name__)


@bp.route("/help/corporate")
def corporate_faq():
    """Domande frequenti sul Portale di fatturazione Corporate."""
    return render("pages/corporate_faq.html")


@bp.route("/help/support")
def support():
    """How to reach support and sales."""
    return render("pages/support.html")
