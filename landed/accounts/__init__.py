"""Accounts (the reference's "customers"), their users, API keys and sign-in."""
