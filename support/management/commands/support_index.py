"""`manage.py support_index [--force]`: build the support chat's passages from README.md,
docs/*.md and the OpenAPI description, if they changed since the last build."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from support.index import support_index_rebuild
from support.models import SupportIndexState


class Command(BaseCommand):
    help = "Build the support chat's index of the documentation and API reference."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Rebuild even if the sources have not changed."
        )

    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        rebuilt = support_index_rebuild(force=force)
        state = SupportIndexState.objects.get(name="default")
        verb = "Built" if rebuilt else "Up to date:"
        self.stdout.write(f"{verb} {state.passage_count} support passages.")
