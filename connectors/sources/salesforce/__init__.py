"""Salesforce through an org's OAuth grant: objects discovered by describe, read with SOQL."""

from connectors.sources.salesforce.source import SalesforceSource

__all__ = ["SalesforceSource"]
