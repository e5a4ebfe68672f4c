"""Email (SPEC §3.4): messages written to the outbox in the transaction of their event
(``outbox.py``, with one function per kind of message in ``messages.py``), delivered by the
worker over SMTP (``delivery.py``), and in development the "Posta inviata" page
(``views.py``) that shows what was kept instead of sent."""
