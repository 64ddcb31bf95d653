"""The definition's JSON Schema in the OpenAPI description: the component
`CustomConnectorDefinition`, which request and response schemas reference.

The document is OpenAPI 3.0, whose schema objects are a dialect of JSON Schema older than the
2020-12 one the definition is checked with: the component is the same schema said in 3.0's
words (a list of types as `anyOf`, null as `nullable`; conditionals, which 3.0 lacks, left
to the check itself, whose 422 names what they would)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent

from connectors.custom.schema import DEFINITION_SCHEMA

COMPONENT_NAME = "CustomConnectorDefinition"
# Keywords of 2020-12 that OpenAPI 3.0 has no word for.
_DROPPED = {"$schema", "if", "then", "else", "const", "$defs"}
# Keywords that apply to one kind of value, kept with it when a list of types is split.
_BY_TYPE = {
    "string": {"minLength", "maxLength", "pattern"},
    "array": {"items", "minItems", "maxItems"},
    "object": {"properties", "additionalProperties", "required"},
    "integer": {"minimum", "maximum"},
    "number": {"minimum", "maximum"},
}


def openapi_30(schema: Any) -> Any:
    """`schema` (JSON Schema 2020-12) as an OpenAPI 3.0 schema object."""
    if isinstance(schema, list):
        return [openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key in ("properties",):
            out[key] = {name: openapi_30(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = openapi_30(value)
        else:
            out[key] = value
    kind = out.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if "null" in kind:
            out["nullable"] = True
        if len(kinds) == 1:
            out["type"] = kinds[0]
        else:
            del out["type"]
            shared = {k: v for k, v in out.items() if not any(k in s for s in _BY_TYPE.values())}
            out = {
                **shared,
                "anyOf": [
                    {"type": k, **{p: out[p] for p in _BY_TYPE.get(k, ()) if p in out}}
                    for k in kinds
                ],
            }
    return out


def definition_component() -> ResolvedComponent:
    return ResolvedComponent(
        name=COMPONENT_NAME,
        type=ResolvedComponent.SCHEMA,
        object=COMPONENT_NAME,
        schema=openapi_30(DEFINITION_SCHEMA),
    )


class DefinitionFieldExtension(OpenApiSerializerFieldExtension):
    """`DefinitionField` is a reference to the component, registered once."""

    target_class = "connectors.custom.serializers.DefinitionField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        component = definition_component()
        auto_schema.registry.register_on_missing(component)
        reference: dict[str, Any] = component.ref
        return reference
