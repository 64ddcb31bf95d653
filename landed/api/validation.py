"""Request parsing with serializers, and DRF's error trees turned into the 422 shape.

The reference's 422 body lists one `{"loc", "msg", "type"}` per problem, `loc` starting with
where the value came from (`body`, `query`, `path`) followed by the field path.
"""

from typing import Any, Literal, TypeVar

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.request import Request
from rest_framework.settings import api_settings

from landed.api.errors import RequestValidationError

Location = Literal["body", "query", "path"]
S = TypeVar("S", bound=serializers.Serializer)

# DRF's error codes, named as the reference's (Pydantic's) error types where one is the same.
_ERROR_TYPES = {
    "required": "missing",
    "blank": "string_too_short",
    "min_length": "string_too_short",
    "max_length": "string_too_long",
    "max_value": "less_than_equal",
    "min_value": "greater_than_equal",
    "max_string_length": "string_too_long",
    "not_a_list": "list_type",
    "not_a_dict": "dict_type",
    "not_a_string": "string_type",
    "empty": "too_short",
    "invalid_choice": "enum",
    "max_digits": "decimal_max_digits",
}
# Codes DRF uses for "not of the expected type", which depend on the field.
_INVALID_TYPES = {
    serializers.IntegerField: "int_parsing",
    serializers.FloatField: "float_parsing",
    serializers.DecimalField: "decimal_parsing",
    serializers.BooleanField: "bool_parsing",
    serializers.UUIDField: "uuid_parsing",
    serializers.DateTimeField: "datetime_parsing",
    serializers.EmailField: "value_error",
    serializers.CharField: "string_type",
    serializers.DictField: "dict_type",
    serializers.ListField: "list_type",
}


def validation_errors(
    errors: Any, location: Location = "body", serializer: serializers.Serializer | None = None
) -> list[dict[str, Any]]:
    """Flatten a DRF error tree into the reference's list of `{loc, msg, type}`."""
    flat: list[dict[str, Any]] = []
    _flatten(errors, [location], serializer, flat)
    return flat


def _flatten(errors: Any, loc: list[Any], field: Any, out: list[dict[str, Any]]) -> None:
    if isinstance(errors, dict):
        for key, value in errors.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY:
                _flatten(value, loc, None, out)
            else:
                _flatten(value, [*loc, key], _child(field, key), out)
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if isinstance(value, dict | list):
                if value:
                    _flatten(value, [*loc, index], _child(field, index), out)
            else:
                _flatten(value, loc, field, out)
    else:
        code = getattr(errors, "code", None) or "value_error"
        out.append({"loc": loc, "msg": str(errors), "type": _error_type(code, field)})


def _child(field: Any, key: Any) -> Any:
    if isinstance(field, serializers.ListSerializer | serializers.ListField):
        return field.child
    if isinstance(field, serializers.Serializer) and isinstance(key, str):
        return field.fields.get(key)
    return None


def _error_type(code: str, field: Any) -> str:
    if code == "invalid" and field is not None:
        for field_class, error_type in _INVALID_TYPES.items():
            if isinstance(field, field_class):
                return error_type
        return "value_error"
    if field is None and code == "invalid":
        # DRF's "Invalid data. Expected a dictionary" for a body that is not an object.
        return "model_attributes_type"
    if field is None and code == "null":
        # DRF's "No data provided" for a body of `null`.
        return "missing"
    return _ERROR_TYPES.get(code, code)


def invalid(loc: list[Any], msg: str, kind: str = "value_error") -> RequestValidationError:
    """The 422 for one problem a service found in the body, at `loc` under `body` (the shape
    `parse_body` gives the problems a serializer finds)."""
    return RequestValidationError([{"loc": ["body", *loc], "msg": msg, "type": kind}])


def _validate(serializer: S, location: Location) -> S:
    if not serializer.is_valid():
        raise RequestValidationError(validation_errors(serializer.errors, location, serializer))
    return serializer


def parse_body(serializer_class: type[S], request: Request, **kwargs: Any) -> S:
    """Validate the JSON body with a serializer; 422 (`loc` under `body`) when it does not fit."""
    return _validate(serializer_class(data=request.data, **kwargs), "body")


def parse_query(serializer_class: type[S], request: Request, **kwargs: Any) -> S:
    """Validate query parameters with a serializer; 422 (`loc` under `query`) on failure."""
    return _validate(serializer_class(data=request.query_params, **kwargs), "query")


def error_detail_text(detail: Any) -> Any:
    """DRF's ErrorDetail values as plain strings (for non-422 error bodies)."""
    if isinstance(detail, ErrorDetail):
        return str(detail)
    if isinstance(detail, list):
        return [error_detail_text(item) for item in detail]
    if isinstance(detail, dict):
        return {key: error_detail_text(value) for key, value in detail.items()}
    return detail
