"""The sandbox a custom connector's definition is test-read in: check and a bounded read of
each stream, in a child process of its own (`child`), with time, memory, record-count and byte
limits and the outbound network policy, started and bounded by `runner`.

This package's __init__ imports nothing: the child is started as
`python -m connectors.custom.sandbox.child`, and must not load Django (`runner` does)."""
