"""The core every feature uses and that uses no feature: configuration, database and models,
migrations, HTTP helpers, access checks, i18n, clock and security."""
