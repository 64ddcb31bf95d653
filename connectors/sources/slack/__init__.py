"""Slack through a workspace's OAuth grant: channels, users and messages."""

from connectors.sources.slack.source import SlackSource

__all__ = ["SlackSource"]
