"""The API plumbing every Landed endpoint shares: errors, validation, pagination, rate limits."""
