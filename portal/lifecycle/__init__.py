"""The life of a subscription after the order: renewals, failed payments (dunning),
auto-renew, trials that end, saved cards; the ``billing run`` command and the worker."""
