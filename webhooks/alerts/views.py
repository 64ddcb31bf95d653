"""The Alerts and Notifications endpoints of the API reference."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from landed.api import ratelimit
from landed.api.errors import ConflictError
from landed.api.pagination import PageQuerySerializer, page_serializer, paginate
from landed.api.schema import raises
from landed.api.validation import parse_body, parse_query
from landed.api.views import LandedAPIView
from webhooks.alerts import selectors, serializers, services

TAGS = ["alerts"]

AlertGroupPage = page_serializer(serializers.AlertGroupSerializer)
NotificationPolicyPage = page_serializer(serializers.NotificationPolicySerializer)
NotificationPage = page_serializer(serializers.NotificationSerializer)


def _group_out(request: Request, group_id: Any) -> dict:
    group = selectors.alert_group_get(account=request.user.account, group_id=group_id)
    return serializers.AlertGroupDetailSerializer(group).data


# --- Groups ----------------------------------------------------------------------------------
class AlertGroupListView(LandedAPIView):
    @extend_schema(
        operation_id="alerts_groups_list",
        tags=TAGS,
        summary="List alert groups",
        description="By name, each with `connector_count`.",
        parameters=[PageQuerySerializer],
        responses={200: AlertGroupPage},
    )
    def get(self, request: Request) -> Response:
        groups = selectors.alert_group_list(account=request.user.account)
        return Response(paginate(request, groups, serializers.AlertGroupSerializer))

    @raises((ConflictError, "Conflict: an alert group with this name already exists."))
    @extend_schema(
        operation_id="alerts_groups_create",
        tags=TAGS,
        summary="Create an alert group",
        description="Connectors named in `connector_ids` must be yours (422 otherwise); names "
        "are unique per account (409).",
        request=serializers.AlertGroupCreateInputSerializer,
        responses={
            201: serializers.AlertGroupDetailSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.AlertGroupCreateInputSerializer, request).validated_data
        group = services.alert_group_create(account=request.user.account, **data)
        return Response(_group_out(request, group.id), status=status.HTTP_201_CREATED)


class AlertGroupDetailView(LandedAPIView):
    # A single resource's GET, as the reference's tiers have it (and GET /connectors/{id}).
    rate_limit_tiers = {"GET": ratelimit.READ_HIGH}

    def _get(self, request: Request, group_id: Any):
        return selectors.alert_group_get(account=request.user.account, group_id=group_id)

    @extend_schema(
        operation_id="alerts_groups_get",
        tags=TAGS,
        summary="Get an alert group with its connectors",
        description="The group and its member connectors (`id`, `name`, `type`), by name.",
        responses={200: serializers.AlertGroupDetailSerializer},
    )
    def get(self, request: Request, group_id: Any) -> Response:
        return Response(_group_out(request, group_id))

    @raises((ConflictError, "Conflict: an alert group with this name already exists."))
    @extend_schema(
        operation_id="alerts_groups_update",
        tags=TAGS,
        summary="Update an alert group (partial)",
        description="`connector_ids`, when given, replaces the members.",
        request=serializers.AlertGroupUpdateInputSerializer,
        responses={
            200: serializers.AlertGroupDetailSerializer,
        },
    )
    def patch(self, request: Request, group_id: Any) -> Response:
        group = self._get(request, group_id)
        data = parse_body(serializers.AlertGroupUpdateInputSerializer, request).validated_data
        services.alert_group_update(group=group, data=dict(data))
        return Response(_group_out(request, group.id))

    @raises((ConflictError, "Conflict: the alert group is used by notification policies."))
    @extend_schema(
        operation_id="alerts_groups_delete",
        tags=TAGS,
        summary="Delete an alert group",
        description="409 while notification policies are scoped to it.",
        responses={
            204: OpenApiResponse(description="Deleted."),
        },
    )
    def delete(self, request: Request, group_id: Any) -> Response:
        services.alert_group_delete(group=self._get(request, group_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertGroupConnectorsView(LandedAPIView):
    @extend_schema(
        operation_id="alerts_groups_add_connector",
        tags=TAGS,
        summary="Add a connector to an alert group",
        description="Idempotent: adding a member again changes nothing. Returns the group.",
        request=serializers.AlertGroupConnectorInputSerializer,
        responses={
            200: serializers.AlertGroupDetailSerializer,
        },
    )
    def post(self, request: Request, group_id: Any) -> Response:
        group = selectors.alert_group_get(account=request.user.account, group_id=group_id)
        data = parse_body(serializers.AlertGroupConnectorInputSerializer, request).validated_data
        services.alert_group_connector_add(group=group, connector_id=data["connector_id"])
        return Response(_group_out(request, group.id))


class AlertGroupConnectorView(LandedAPIView):
    @extend_schema(
        operation_id="alerts_groups_remove_connector",
        tags=TAGS,
        summary="Remove a connector from an alert group",
        description="Idempotent: 204 also when the connector is not a member.",
        responses={
            204: OpenApiResponse(description="Removed."),
        },
    )
    def delete(self, request: Request, group_id: Any, connector_id: Any) -> Response:
        group = selectors.alert_group_get(account=request.user.account, group_id=group_id)
        services.alert_group_connector_remove(group=group, connector_id=connector_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Policies --------------------------------------------------------------------------------
_POLICY_RULES = (
    "Conditions: sync_failed (a sync failed for good, no retry left), consecutive_failures "
    "(`consecutive_failures` syncs in a row failed), sync_recovered (a sync succeeded after a "
    "failed one), schema_changed, data_stale (no successful sync for `freshness_minutes`). "
    "Scope all, a group (`group_id`) or a connector (`connector_id`). At least one channel: "
    "in-app, email recipients, or one of your webhook endpoints (an `alert.triggered` event). "
    "A policy notifies about a connector's condition at most once per `cooldown_minutes`."
)


class PolicyListView(LandedAPIView):
    @extend_schema(
        operation_id="alerts_policies_list",
        tags=TAGS,
        summary="List notification policies",
        description="Newest first.",
        parameters=[PageQuerySerializer],
        responses={200: NotificationPolicyPage},
    )
    def get(self, request: Request) -> Response:
        policies = selectors.policy_list(account=request.user.account)
        return Response(paginate(request, policies, serializers.NotificationPolicySerializer))

    @raises((ConflictError, "Conflict: a notification policy with this name already exists."))
    @extend_schema(
        operation_id="alerts_policies_create",
        tags=TAGS,
        summary="Create a notification policy",
        description=_POLICY_RULES,
        request=serializers.PolicyInputSerializer,
        responses={
            201: serializers.NotificationPolicySerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.PolicyInputSerializer, request).validated_data
        policy = services.policy_create(account=request.user.account, data=data)
        return Response(
            serializers.NotificationPolicySerializer(policy).data, status=status.HTTP_201_CREATED
        )


class PolicyDetailView(LandedAPIView):
    def _get(self, request: Request, policy_id: Any):
        return selectors.policy_get(account=request.user.account, policy_id=policy_id)

    @raises((ConflictError, "Conflict: a notification policy with this name already exists."))
    @extend_schema(
        operation_id="alerts_policies_update",
        tags=TAGS,
        summary="Update a notification policy (partial)",
        description="The fields given replace the saved ones (`channels` field by field), and "
        "the result is checked as a whole. A group, connector or freshness that no longer "
        "applies (the scope or conditions changed) is cleared.",
        request=serializers.PolicyInputSerializer,
        responses={
            200: serializers.NotificationPolicySerializer,
        },
    )
    def patch(self, request: Request, policy_id: Any) -> Response:
        policy = self._get(request, policy_id)
        data = parse_body(serializers.PolicyInputSerializer, request, partial=True).validated_data
        policy = services.policy_update(policy=policy, data=data)
        return Response(serializers.NotificationPolicySerializer(policy).data)

    @extend_schema(
        operation_id="alerts_policies_delete",
        tags=TAGS,
        summary="Delete a notification policy",
        description="Its notifications are kept.",
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def delete(self, request: Request, policy_id: Any) -> Response:
        services.policy_delete(policy=self._get(request, policy_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PolicyResolveView(LandedAPIView):
    @extend_schema(
        operation_id="alerts_policies_resolve",
        tags=TAGS,
        summary="The notification policies that apply to a connector",
        description="Enabled policies that cover the connector, and how (scope all, a group "
        "it is in, or the connector itself); disabled ones that would are listed apart.",
        responses={200: serializers.PolicyResolveSerializer},
    )
    def get(self, request: Request, connector_id: Any) -> Response:
        resolved = selectors.policies_resolve(
            account=request.user.account, connector_id=connector_id
        )
        return Response(serializers.PolicyResolveSerializer(resolved).data)


class PolicyTestView(LandedAPIView):
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @extend_schema(
        operation_id="alerts_policies_test",
        tags=TAGS,
        summary="Send a test notification through every channel of a policy",
        description="Now, whatever the cooldown: an in-app notification (kind `test`), the "
        "email to its recipients (sent before the response), an `alert.triggered` event to "
        "its webhook endpoint. Made by the code that makes real alerts: where alerts cannot "
        "be evaluated, the test fails too. The message says when the policy would notify "
        "nothing (disabled, or covering no connector yet).",
        request=None,
        responses={200: serializers.PolicyTestResultSerializer},
    )
    def post(self, request: Request, policy_id: Any) -> Response:
        policy = selectors.policy_get(account=request.user.account, policy_id=policy_id)
        result = services.policy_test(policy=policy)
        return Response(serializers.PolicyTestResultSerializer(result).data)


# --- Notifications ---------------------------------------------------------------------------
class NotificationListView(LandedAPIView):
    @extend_schema(
        operation_id="alerts_notifications_list",
        tags=TAGS,
        summary="List in-app notifications, newest first",
        description="`unread=true` for the unread ones only, `unread=false` for the read ones.",
        parameters=[PageQuerySerializer, serializers.NotificationListQuerySerializer],
        responses={200: NotificationPage},
    )
    def get(self, request: Request) -> Response:
        query = parse_query(serializers.NotificationListQuerySerializer, request).validated_data
        unread = {"true": True, "false": False}.get(query.get("unread", ""))
        notifications = selectors.notification_list(account=request.user.account, unread=unread)
        return Response(paginate(request, notifications, serializers.NotificationSerializer))


class NotificationReadView(LandedAPIView):
    permission_classes = [IsAuthenticated]  # no billing check: see billing/permissions.py

    @extend_schema(
        operation_id="alerts_notifications_read",
        tags=TAGS,
        summary="Mark a notification read",
        description="Idempotent: a read notification keeps its first `read_at`.",
        request=None,
        responses={200: serializers.NotificationSerializer},
    )
    def post(self, request: Request, notification_id: Any) -> Response:
        notification = selectors.notification_get(
            account=request.user.account, notification_id=notification_id
        )
        notification = services.notification_read(notification=notification)
        return Response(serializers.NotificationSerializer(notification).data)


class NotificationReadAllView(LandedAPIView):
    permission_classes = [IsAuthenticated]  # no billing check: see billing/permissions.py

    @extend_schema(
        operation_id="alerts_notifications_read_all",
        tags=TAGS,
        summary="Mark every notification read",
        description="Returns how many were unread (`updated`).",
        request=None,
        responses={200: serializers.NotificationsUpdatedSerializer},
    )
    def post(self, request: Request) -> Response:
        updated = services.notifications_read_all(account=request.user.account)
        return Response({"updated": updated})


class NotificationUnreadCountView(LandedAPIView):
    rate_limit_tiers = {"GET": ratelimit.READ_HIGH}

    @extend_schema(
        operation_id="alerts_notifications_unread_count",
        tags=TAGS,
        summary="How many notifications are unread",
        description='For a badge: `{"unread": 3}`.',
        responses={200: serializers.NotificationUnreadCountSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response(
            {"unread": selectors.notification_unread_count(account=request.user.account)}
        )
