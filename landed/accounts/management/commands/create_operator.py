"""Create (or promote) an operator: a staff superuser who can sign in to /admin/."""

import getpass
import os
from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from landed.accounts.models import User, normalize_email


class Command(BaseCommand):
    help = (
        "Create an operator account for the admin site, or promote an existing user. The "
        "password comes from --password, LANDED_OPERATOR_PASSWORD, or a prompt."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", help="Prefer LANDED_OPERATOR_PASSWORD or the prompt.")
        parser.add_argument(
            "--no-input", action="store_true", help="Never prompt; fail if no password is given."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = normalize_email(options["email"])
        password = options["password"] or os.environ.get("LANDED_OPERATOR_PASSWORD")
        existing = User.objects.filter(email=email).first()
        if not password and existing is None:
            if options["no_input"]:
                raise CommandError("No password: pass --password or set LANDED_OPERATOR_PASSWORD.")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match.")

        if password:
            try:
                password_validation.validate_password(password, user=existing or User(email=email))
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc

        with transaction.atomic():
            if existing is None:
                User.objects.create_superuser(email, password, account_name="Operators")
                self.stdout.write(self.style.SUCCESS(f"Created operator {email}."))
                return
            existing.is_staff = existing.is_superuser = existing.is_active = True
            if password:
                existing.set_password(password)
            existing.save()
            self.stdout.write(self.style.SUCCESS(f"Promoted {email} to operator."))
