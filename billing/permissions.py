"""The 403 rule of the reference's status table: an account whose subscription is inactive
(canceled, unpaid, past due beyond the grace period) cannot write (create, change, delete,
trigger a sync, test credentials), while every read keeps working.

A default permission class (REST_FRAMEWORK settings), so that every view has it; the views that
let such an account recover or manage its own sign-in opt out by naming their permissions:
billing's checkout and portal, logout, API keys, and marking notifications read."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from billing.rules import require_active


class ActiveSubscriptionForWrites(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        account = getattr(request.user, "account", None)
        if account is not None:
            require_active(account)  # raises the 403 that says how to fix it
        return True
