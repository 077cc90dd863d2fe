from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.models import ModelConfig, Provider

DEFAULT_BASE_URLS = {Provider.ANTHROPIC: "https://api.anthropic.com"}


class Command(BaseCommand):
    help = "Create or update a model configuration (for scripted deploys)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Unique slug users and the API pick the model by.")
        parser.add_argument("--provider", choices=[p.value for p in Provider])
        parser.add_argument("--base-url")
        parser.add_argument("--upstream-model", help="Model id sent upstream.")
        parser.add_argument(
            "--api-key-env", help="Name of the environment variable holding the key."
        )
        parser.add_argument("--display-name")
        parser.add_argument("--max-tokens", type=int)
        parser.add_argument("--temperature", type=float)
        parser.add_argument("--system-prompt")
        parser.add_argument("--history-limit", type=int)
        parser.add_argument("--default", action="store_true", help="Make this the default model.")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--disable", action="store_true", help="Hide it from users.")
        state.add_argument("--enable", action="store_true", help="Show it to users again.")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        config = ModelConfig.objects.filter(name=name).first()
        created = config is None
        if config is None:
            if not options["provider"]:
                raise CommandError("--provider is required for a new model.")
            config = ModelConfig(name=name, display_name=name)
        fields = {
            "provider": options["provider"],
            "base_url": options["base_url"],
            "upstream_model": options["upstream_model"],
            "api_key_env": options["api_key_env"],
            "display_name": options["display_name"],
            "max_tokens": options["max_tokens"],
            "temperature": options["temperature"],
            "system_prompt": options["system_prompt"],
            "history_limit": options["history_limit"],
        }
        for field, value in fields.items():
            if value is not None:
                setattr(config, field, value)
        if created and not config.base_url:
            config.base_url = DEFAULT_BASE_URLS.get(Provider(config.provider), "")
        if options["default"]:
            config.is_default = True
        if options["disable"]:
            config.enabled = False
        if options["enable"]:
            config.enabled = True
        try:
            config.full_clean(validate_unique=True)
        except ValidationError as error:
            problems = "; ".join(f"{f}: {' '.join(m)}" for f, m in error.message_dict.items())
            raise CommandError(problems) from error
        config.save()
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} model {config.name} ({config.get_provider_display()}).")
