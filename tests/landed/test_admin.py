"""The admin site as a whole: pages that edit nothing show no Save buttons, every model is
named right in the plural, and "View site" leads to a page that exists (or is not shown)."""

import re

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.utils import timezone

from landed.accounts.models import LoginThrottle, User
from syncs.models import Job, StreamState
from tests.accounts.factories import AccountFactory
from tests.admin_helpers import has_save_buttons
from tests.connectors.factories import make_connector

pytestmark = pytest.mark.django_db


def _all_read_only(model_admin: admin.ModelAdmin, request) -> bool:
    """True when a change page (of an unsaved row: no query) would have no field to edit."""
    obj = model_admin.model()
    shown = set(model_admin.get_fields(request, obj))
    return shown <= set(model_admin.get_readonly_fields(request, obj))


def test_pages_that_edit_nothing_cannot_save(operator: Client) -> None:
    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(email="ops@example.com")
    savers = []
    for model, model_admin in admin.site._registry.items():
        if not _all_read_only(model_admin, request):
            continue
        # No change permission: Django shows the page as a view, with no Save buttons (and
        # refuses a POST to it).
        if model_admin.has_change_permission(request) or model_admin.has_add_permission(request):
            savers.append(model.__name__)
    assert savers == []


def test_read_only_pages_render_without_save_buttons(operator: Client) -> None:
    connector = make_connector(AccountFactory())
    job = Job.objects.create(connector=connector, status="succeeded", finished_at=timezone.now())
    state = StreamState.objects.create(connector=connector, stream="orders", state={"a": 1})
    throttle = LoginThrottle.objects.create(email="x@example.com", failed_attempts=3)
    for url in (
        f"/admin/syncs/job/{job.id}/change/",
        f"/admin/syncs/streamstate/{state.id}/change/",
        f"/admin/accounts/loginthrottle/{throttle.id}/change/",
    ):
        response = operator.get(url)
        assert response.status_code == 200, url
        assert not has_save_buttons(response.content.decode()), url
        # And a POST of the form (a stale page, a crafted request) changes nothing.
        assert operator.post(url, {}).status_code == 403, url
    # Deleting a stream's state stays possible (its stream is then read from the start).
    assert operator.get(f"/admin/syncs/streamstate/{state.id}/delete/").status_code == 200


def test_every_model_has_a_right_plural() -> None:
    wrong = []
    for model in admin.site._registry:
        singular, plural = str(model._meta.verbose_name), str(model._meta.verbose_name_plural)
        # Django's default adds an "s": "deliverys", "notification policys".
        if re.search(r"[^aeiou]y$", singular) and plural == f"{singular}s":
            wrong.append(plural)
    assert wrong == []


def test_the_index_names_them_right(operator: Client) -> None:
    html = operator.get("/admin/").content.decode()
    assert ">Deliveries<" in html
    assert ">Notification policies<" in html


def test_view_site_is_not_shown_without_a_site(operator: Client, settings) -> None:
    # The API's root is no page (a 404): with no documentation served, no link at all.
    assert settings.EXPOSE_API_DOCS is False
    assert admin.site.site_url is None
    html = operator.get("/admin/").content.decode()
    assert "View site" not in html


def test_view_site_leads_to_the_api_docs_where_they_are_served(operator: Client, settings):
    from landed.admin_mixins import admin_site_url

    settings.EXPOSE_API_DOCS = True
    url = admin_site_url()
    assert str(url) == "/docs"
    assert operator.get(str(url)).status_code == 200
