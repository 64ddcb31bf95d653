"""Microsoft 365 through a tenant's OAuth grant: users and groups from Microsoft Graph."""

from connectors.sources.microsoft.source import MicrosoftSource

__all__ = ["MicrosoftSource"]
