"""Payment gateways: the interface, the card checks and the built-in sandbox."""
