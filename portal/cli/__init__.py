"""Operator and translator commands: ``flask --app portal <group> <command>``."""
from portal.cli import operators, translate
from portal.customers import commands as customers
from portal.invoices import commands as invoices
from portal.lifecycle import commands as lifecycle


def init_app(app):
    """Register the command groups."""
    for group in (operators.GROUPS + translate.GROUPS + lifecycle.GROUPS + invoices.GROUPS
                  + customers.GROUPS):
        app.cli.add_command(group)
