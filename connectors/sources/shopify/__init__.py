"""Shopify through a shop's OAuth grant: orders, customers and products."""

from connectors.sources.shopify.source import ShopifySource

__all__ = ["ShopifySource"]
