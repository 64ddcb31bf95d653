"""GET /health: liveness and readiness in one probe."""

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from landed.api.errors import error_payload
from landed.api.views import LandedAPIView


def database_status() -> dict[str, Any]:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    status: dict[str, Any] = {
        "ok": True,
        "vendor": connection.vendor,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "pool": None,
    }
    pool = getattr(connection, "pool", None)
    if pool is not None:
        stats = pool.get_stats()
        status["pool"] = {
            "size": stats.get("pool_size", 0),
            "available": stats.get("pool_available", 0),
            "min_size": stats.get("pool_min", pool.min_size),
            "max_size": stats.get("pool_max", pool.max_size),
            "requests_waiting": stats.get("requests_waiting", 0),
        }
    return status


def cache_status() -> dict[str, Any]:
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    started = time.perf_counter()
    cache.set("health:ping", "1", timeout=5)
    ok = cache.get("health:ping") == "1"
    return {
        "ok": ok,
        "backend": backend,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


class HealthView(LandedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    # Probes poll this; they must never be rate-limited out of a healthy server.
    rate_limit_tiers = {"GET": None, "HEAD": None}

    @extend_schema(
        operation_id="health",
        tags=["health"],
        summary="Liveness and readiness: database and cache reachable",
        responses={
            200: inline_serializer(
                "Health",
                {
                    "status": serializers.CharField(),
                    "database": serializers.DictField(),
                    "cache": serializers.DictField(),
                },
            ),
            503: inline_serializer(
                "HealthUnavailable",
                {
                    "status": serializers.CharField(),
                    "error": serializers.CharField(),
                    "detail": serializers.CharField(),
                    "database": serializers.DictField(),
                    "cache": serializers.DictField(),
                },
            ),
        },
        auth=[],
    )
    def get(self, request: Request) -> Response:
        problems = []
        try:
            database = database_status()
        except DatabaseError as exc:
            database = {"ok": False, "vendor": connection.vendor, "error": str(exc).strip()}
            problems.append("database unreachable")
        try:
            cache_info = cache_status()
        except Exception as exc:  # any backend error means the cache is not usable
            cache_info = {"ok": False, "error": str(exc).strip()}
        if not cache_info["ok"]:
            problems.append("cache unreachable")

        body: dict[str, Any] = {"status": "ok", "database": database, "cache": cache_info}
        if problems:
            body = {
                "status": "unavailable",
                **error_payload("Service unavailable", "; ".join(problems)),
                "database": database,
                "cache": cache_info,
            }
            return Response(body, status=503)
        return Response(body)
