"""Custom connectors: source definitions an account writes or generates for an API Landed has
no connector for, compiled to the declarative http_api engine (docs/custom_connectors.md)."""
