"""How the OpenAPI description names our authentication classes."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "landed.accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer lnd_...`.",
        }


class CookieSessionScheme(OpenApiAuthenticationExtension):
    target_class = "landed.accounts.authentication.CookieSessionAuthentication"
    name = "sessionCookie"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "landed_session",
            "description": "Set by signup and login. Writes also need the X-CSRFToken header.",
        }


class BearerJWTScheme(OpenApiAuthenticationExtension):
    target_class = "landed.accounts.authentication.BearerJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": (
                "A JWT from signup, login, /auth/me or /auth/refresh (1 hour). It ends earlier "
                "with its session: logout, signing out everywhere, a password change."
            ),
        }
