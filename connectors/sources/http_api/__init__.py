"""A declarative HTTP API source: a JSON REST API described by configuration, not code.

The source itself is `connectors.sources.http_api.source.HttpApiSource`. This package imports
nothing: its definition checks (definition.py) serve the API process, which validates custom
connector definitions and must not load pyarrow with the engine.
"""
