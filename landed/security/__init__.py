"""The platform's security services: secrets encryption at rest (`secrets`, reads Django
settings), the outbound network policy (`network`, reads Django settings) and the plain-Python
pieces it is built on (`addresses`, `outbound`), which the connector framework uses without
Django. Import the module you need: this package imports nothing."""
