"""Discovery of an HTTP API for a custom connector, in plain Python (no Django): what an
OpenAPI 3 / Swagger 2 document says (openapi.py), what a bounded live sample confirms or adds
(sampling.py), and the definition made from both (definition.py). The discovery's format is
described in docs/custom_connector_discovery.md."""
