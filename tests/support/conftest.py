"""The support chat's index and accounts, made once and committed: the servers the tests start
read them."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from connectors.models import Connector, Destination
from landed.accounts import services as account_services
from support.index import support_index_rebuild
from support.models import SupportConversation, SupportIndexState, SupportPassage
from syncs.models import Job, JobStatus
from tests.accounts.factories import UserFactory
from tests.connectors.factories import make_connector

FAILED_JOB_ERROR = "permission denied for table invoices (SQLSTATE 42501)"


@pytest.fixture(scope="session")
def index(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Built once (a build generates the OpenAPI description: a second or two)."""
    with django_db_blocker.unblock():
        support_index_rebuild(force=True)
    yield
    with django_db_blocker.unblock():
        SupportPassage.objects.all().delete()
        SupportIndexState.objects.all().delete()
        SupportConversation.objects.filter(account=None).delete()


@pytest.fixture(scope="module")
def accounts(django_db_setup, django_db_blocker) -> Iterator[dict[str, Any]]:
    """Two signed-up users with API keys; the first has a connector whose last sync failed."""
    with django_db_blocker.unblock():
        users = [UserFactory(), UserFactory()]
        keys = [account_services.api_key_create(user=u, name="support")[1] for u in users]
        connector = make_connector(users[0].account, name="billing-db")
        job = Job.objects.create(
            connector=connector,
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error={
                "type": "source_error",
                "message": FAILED_JOB_ERROR,
                "stream": "invoices",
                "retryable": False,
            },
        )
    yield {"keys": keys, "job": job, "connector": connector}
    with django_db_blocker.unblock():
        for user in users:
            # A destination's connectors first: they protect it.
            Connector.objects.filter(account=user.account).delete()
            Destination.objects.filter(account=user.account).delete()
            user.account.delete()
