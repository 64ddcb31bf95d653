from rest_framework import serializers

from landed.api.serializers import StrictCharField, StrictUUIDField

MAX_MESSAGE_CHARS = 4000


class SupportChatInputSerializer(serializers.Serializer):
    message = StrictCharField(min_length=1, max_length=MAX_MESSAGE_CHARS)
    conversation_id = StrictUUIDField(required=False, allow_null=True, default=None)
