"""The product catalog: read from the operator's TOML file, stored in the database, cached."""
