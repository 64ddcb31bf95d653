"""Re-encrypt every stored secret with the newest key of ENCRYPTION_KEYS.

Key rotation: put the new key first in ENCRYPTION_KEYS (keep the old one after it), restart,
run this command, then drop the old key.
"""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from connectors.models import Connector, Destination
from landed.security.secrets import rotate_token


class Command(BaseCommand):
    help = "Re-encrypt stored connector and destination secrets with the newest key."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model in (Connector, Destination):
            with transaction.atomic():
                for row in model.objects.select_for_update().exclude(encrypted_secrets=""):
                    row.encrypted_secrets = rotate_token(row.encrypted_secrets)
                    row.save(update_fields=["encrypted_secrets"])
                    total += 1
        self.stdout.write(f"Re-encrypted the secrets of {total} connectors and destinations.")
