"""The one entry to the sandbox: a definition and its config test-read within the server's
limits (settings SANDBOX_*) and outbound network policy. The test endpoint and the generation
task both call `run_sandbox_test`."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from connectors.custom.compile import compile_config
from connectors.custom.sandbox.process import SandboxLimits, sandbox_read
from landed.security.network import private_allowed


def sandbox_limits() -> SandboxLimits:
    return SandboxLimits(
        seconds=float(settings.SANDBOX_SECONDS),
        memory_mib=int(settings.SANDBOX_MEMORY_MIB),
        records=int(settings.SANDBOX_MAX_RECORDS),
        bytes=int(settings.SANDBOX_MAX_BYTES),
    )


def run_sandbox_test(
    *,
    definition: dict[str, Any],
    config: dict[str, Any],
    max_records: int,
    version: int | None = None,
    limits: SandboxLimits | None = None,
) -> dict[str, Any]:
    """Check and a bounded read of each stream of `definition` (valid: the caller checked it)
    with `config` (its credentials and config fields), in the sandbox. Never raises for the
    API under test failing: the result says so (`status: failed`, per-stream errors)."""
    compiled = compile_config(definition, config)
    # Secret config fields end up in params, paths or headers of the compiled config, where
    # the http_api masker does not know them: named here, masked like the credentials.
    secrets = [
        str(config[field["name"]])
        for field in definition.get("config_fields") or []
        if field.get("type") == "secret" and config.get(field.get("name"))
    ]
    result = sandbox_read(
        config=compiled,
        max_records=max_records,
        limits=limits or sandbox_limits(),
        allow_private_networks=private_allowed(),
        secrets=secrets,
    )
    return {"status": result.pop("status"), "version": version, **result}
