"""What the tests of the admin pages read: the messages an operation left, its buttons."""

import re
from typing import Any

from django.contrib.messages import get_messages

SAVE_BUTTONS = ('name="_save"', 'name="_continue"', 'name="_addanother"')


def messages_of(response: Any) -> list[tuple[str, str]]:
    """(level, text) of the messages queued by the request behind `response`."""
    return [(m.level_tag, str(m.message)) for m in get_messages(response.wsgi_request)]


def operation_buttons(html: str) -> list[str]:
    """The names of the operation buttons (landed/admin_mixins.py) of a change page."""
    return re.findall(
        r'<button type="submit" class="operation[^"]*"\s+name="operation" '
        r'value="([a-z_]+)"',
        html,
    )


def has_save_buttons(html: str) -> bool:
    return any(button in html for button in SAVE_BUTTONS)


def viewer_client(*permissions: str) -> Any:
    """A test client signed in as staff with only these permissions ("syncs.view_job"): an
    operator who may look but not act."""
    from django.contrib.auth.models import Permission
    from django.test import Client

    from tests.accounts.factories import PASSWORD, UserFactory

    user = UserFactory(is_staff=True)
    for name in permissions:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    return client
