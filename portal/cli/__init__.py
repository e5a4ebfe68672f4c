"""Operator and translator commands: ``flask --app portal <group> <command>``."""
from portal.cli import operators, translate
from portal.customers import commands as customers
from portal.invoices import commands as invoices
from portal.lifecycle import commands as lifecycle
from portal.mail import commands as mail


def init_app(app):
    """Register the command groups."""
    for group in (operators.GROUPS + translate.GROUPS + lifecycle.GROUPS + invoices.GROUPS
                  + customers.GROUPS + mail.GROUPS):
        app.cli.add_command(group)
