"""HubSpot through a portal's OAuth grant: contacts, companies, deals and owners."""

from connectors.sources.hubspot.source import HubSpotSource

__all__ = ["HubSpotSource"]
