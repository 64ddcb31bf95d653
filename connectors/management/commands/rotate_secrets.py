"""Re-encrypt every stored secret with the newest key of ENCRYPTION_KEYS.

Key rotation: put the new key first in ENCRYPTION_KEYS (keep the old one after it), restart,
run this command, then drop the old key.
"""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from connectors.models import Connector, Destination
from landed.security.secrets import encrypted_columns, rotate_token


class Command(BaseCommand):
    help = "Re-encrypt stored secrets (connectors, destinations, OAuth grants) with the newest key."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        columns = [(Connector, "encrypted_secrets"), (Destination, "encrypted_secrets")]
        for model, field in [*columns, *encrypted_columns()]:
            with transaction.atomic():
                for row in model.objects.select_for_update().exclude(**{field: ""}):
                    setattr(row, field, rotate_token(getattr(row, field)))
                    row.save(update_fields=[field])
                    total += 1
        self.stdout.write(
            f"Re-encrypted the secrets of {total} connectors, destinations and OAuth grants."
        )
