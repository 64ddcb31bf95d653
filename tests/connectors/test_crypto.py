"""Secrets at rest: Fernet with rotation."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from connectors.models import Connector, Destination
from landed.security import secrets
from tests.accounts.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_round_trip_and_ciphertext_hides_the_value():
    token = secrets.encrypt_secrets({"password": "hunter2-but-longer"})
    assert "hunter2" not in token
    assert secrets.decrypt_secrets(token) == {"password": "hunter2-but-longer"}
    assert secrets.encrypt_secrets({}) == ""


def test_rotation_re_encrypts_with_the_newest_key(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [old]
    account = AccountFactory()
    destination = Destination.objects.create(account=account, name="d", type="postgres")
    destination.encrypted_secrets = secrets.encrypt_secrets({"password": "pw-one"})
    destination.save()
    connector = Connector.objects.create(
        account=account,
        name="c",
        type="postgres",
        destination=destination,
        destination_schema="c",
        encrypted_secrets=secrets.encrypt_secrets({"password": "pw-two"}),
    )

    settings.ENCRYPTION_KEYS = [new, old]
    call_command("rotate_secrets", stdout=open("/dev/null", "w"))  # noqa: SIM115

    settings.ENCRYPTION_KEYS = [new]
    destination.refresh_from_db()
    connector.refresh_from_db()
    assert secrets.decrypt_secrets(destination.encrypted_secrets) == {"password": "pw-one"}
    assert secrets.decrypt_secrets(connector.encrypted_secrets) == {"password": "pw-two"}

    settings.ENCRYPTION_KEYS = [old]
    with pytest.raises(secrets.SecretDecryptionError):
        secrets.decrypt_secrets(connector.encrypted_secrets)
