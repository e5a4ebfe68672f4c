"""Subscriptions: the billing center (dashboard) and "Modifica sottoscrizione" with its live
order summary."""
