from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from chat.models import ApiKey


class Command(BaseCommand):
    help = (
        "Create an API key for a user (created without a password if missing). "
        "The key is printed once, as the last word of the output; only its hash is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to recognise the key by.")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save()
            self.stdout.write(
                f"Created user {username} (no password: set one with `manage.py changepassword`)."
            )
        key, plain = ApiKey.issue(user, name=name)
        self.stdout.write(f"API key {key.prefix}… for {username}. It is shown only once:")
        self.stdout.write(plain)
