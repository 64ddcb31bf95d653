"""The project's URLs plus views that fail on purpose, for the error-path tests."""

from django.http import HttpResponse
from django.urls import path

from landed.api.views import LandedAPIView
from landed.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class CrashView(LandedAPIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        raise RuntimeError("boom: secret internals")


def plain_django_crash(request):
    raise RuntimeError("boom outside DRF")


def html_error(request):
    return HttpResponse("<h1>teapot</h1>", status=418, content_type="text/html")


urlpatterns = [
    *urlpatterns,
    path("test/crash", CrashView.as_view()),
    path("test/django-crash", plain_django_crash),
    path("test/html-error", html_error),
]
