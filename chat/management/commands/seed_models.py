from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand
from django.utils.text import slugify

from chat.models import ModelConfig, Provider
from chat.providers.demo import LABEL as DEMO_LABEL

DEMO_NAME = "demo"
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-5"


class Command(BaseCommand):
    help = (
        "Make sure the offline demo model exists, and add models named by the environment: "
        "LLM_BASE_URL + LLM_MODEL (+ LLM_API_KEY) and ANTHROPIC_API_KEY (+ ANTHROPIC_MODEL)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        demo, created = ModelConfig.objects.get_or_create(
            name=DEMO_NAME,
            defaults={"display_name": DEMO_LABEL, "provider": Provider.DEMO, "max_tokens": 4096},
        )
        if created:
            self.stdout.write(f"Added the {DEMO_LABEL} model.")
        if not ModelConfig.objects.filter(is_default=True).exists():
            demo.is_default = True
            demo.save()

        base_url = os.environ.get("LLM_BASE_URL", "")
        model = os.environ.get("LLM_MODEL", "")
        if base_url and model:
            self.seed(
                name=slugify(model.replace("/", "-").replace(":", "-")) or "llm",
                display_name=model,
                provider=Provider.OPENAI,
                base_url=base_url,
                upstream_model=model,
                api_key_env="LLM_API_KEY" if os.environ.get("LLM_API_KEY") else "",
            )
        if os.environ.get("ANTHROPIC_API_KEY"):
            model = os.environ.get("ANTHROPIC_MODEL", DEFAULT_ANTHROPIC_MODEL)
            self.seed(
                name=slugify(model) or "claude",
                display_name=f"Claude ({model})",
                provider=Provider.ANTHROPIC,
                base_url=os.environ.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
                upstream_model=model,
                api_key_env="ANTHROPIC_API_KEY",
            )

    def seed(self, *, name: str, **fields: Any) -> None:
        config, created = ModelConfig.objects.update_or_create(name=name, defaults=fields)
        # Someone who points the site at their model wants it used: it replaces the demo as
        # the default, but never a default that staff chose.
        default = ModelConfig.objects.filter(is_default=True).first()
        if default is None or default.name == DEMO_NAME:
            config.is_default = True
            config.save()
        self.stdout.write(f"{'Added' if created else 'Updated'} model {name} from the environment.")
