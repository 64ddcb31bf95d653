from rest_framework import serializers

MAX_MESSAGE_CHARS = 4000


class SupportChatInputSerializer(serializers.Serializer):
    message = serializers.CharField(min_length=1, max_length=MAX_MESSAGE_CHARS)
    conversation_id = serializers.UUIDField(required=False, allow_null=True, default=None)
