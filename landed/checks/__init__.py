"""Static checks of the code base, run by `make test` (never imported by the running platform).

They need the dev extras (import-linter); a contract in pyproject.toml keeps app code from
importing this package.
"""
