"""Groups for the two kinds of admin users, and a first history entry for existing models.

Permissions are normally created after all migrations run (post_migrate); on a fresh
database they do not exist yet here, so they are created first.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

TRANSCRIPT_REVIEWERS = "Transcript reviewers"
MODEL_CONFIGURATORS = "Model configurators"

# View-only: reviewers read transcripts, model settings and analytics, and change nothing.
REVIEWER_PERMISSIONS = (
    "view_conversation",
    "view_message",
    "view_modelconfig",
    "view_modelconfigversion",
    "view_generationrecord",
)
# Model settings only: no transcripts unless someone grants them separately.
CONFIGURATOR_PERMISSIONS = (
    "view_modelconfig",
    "add_modelconfig",
    "change_modelconfig",
    "view_modelconfigversion",
)

SNAPSHOT_FIELDS = (
    "name",
    "display_name",
    "provider",
    "base_url",
    "upstream_model",
    "api_key_env",
    "max_tokens",
    "temperature",
    "system_prompt",
    "history_limit",
    "enabled",
    "is_default",
)


def create_groups(apps: Any, schema_editor: Any) -> None:
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in (
        (TRANSCRIPT_REVIEWERS, REVIEWER_PERMISSIONS),
        (MODEL_CONFIGURATORS, CONFIGURATOR_PERMISSIONS),
    ):
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="chat", codename__in=codenames)
        )


def remove_groups(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.filter(
        name__in=[TRANSCRIPT_REVIEWERS, MODEL_CONFIGURATORS]
    ).delete()


def record_first_versions(apps: Any, schema_editor: Any) -> None:
    ModelConfig = apps.get_model("chat", "ModelConfig")
    ModelConfigVersion = apps.get_model("chat", "ModelConfigVersion")
    for config in ModelConfig.objects.all():
        ModelConfigVersion.objects.get_or_create(
            model_config=config,
            version=config.version,
            defaults={
                "snapshot": {field: getattr(config, field) for field in SNAPSHOT_FIELDS},
                "changed_at": config.updated_at,
            },
        )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("chat", "0003_model_config_versions_and_admin_indexes"),
    ]

    operations = [
        migrations.RunPython(create_groups, remove_groups),
        migrations.RunPython(record_first_versions, migrations.RunPython.noop),
    ]
