"""DRF's nested error trees flatten into the reference's `{loc, msg, type}` list."""

from rest_framework import serializers

from landed.api.validation import validation_errors


class Item(serializers.Serializer):
    name = serializers.CharField()
    count = serializers.IntegerField(max_value=10)


class Body(serializers.Serializer):
    items = Item(many=True)
    tags = serializers.ListField(child=serializers.IntegerField())
    mode = serializers.ChoiceField(choices=["append", "merge"])


def test_nested_lists_and_objects_get_full_locations():
    body = Body(
        data={
            "items": [{"name": "ok", "count": 1}, {"count": "x"}, {"name": "n", "count": 11}],
            "tags": [1, "a"],
            "mode": "upsert",
        }
    )
    assert not body.is_valid()

    assert validation_errors(body.errors, "body", body) == [
        {"loc": ["body", "items", 1, "name"], "msg": "This field is required.", "type": "missing"},
        {
            "loc": ["body", "items", 1, "count"],
            "msg": "A valid integer is required.",
            "type": "int_parsing",
        },
        {
            "loc": ["body", "items", 2, "count"],
            "msg": "Ensure this value is less than or equal to 10.",
            "type": "less_than_equal",
        },
        {"loc": ["body", "tags", 1], "msg": "A valid integer is required.", "type": "int_parsing"},
        {"loc": ["body", "mode"], "msg": '"upsert" is not a valid choice.', "type": "enum"},
    ]


def test_query_location():
    class Query(serializers.Serializer):
        status = serializers.ChoiceField(choices=["ok"])

    query = Query(data={"status": "bad"})
    assert not query.is_valid()
    [problem] = validation_errors(query.errors, "query", query)
    assert problem["loc"] == ["query", "status"]
