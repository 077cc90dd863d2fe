"""MCP servers, which models may use them, and who may configure them.

Configurators configure MCP servers as they do models; reviewers may read their settings.
"""

from typing import Any

import django.core.validators
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

GROUP_PERMISSIONS = {
    "Model configurators": ("view_mcpserver", "add_mcpserver", "change_mcpserver"),
    "Transcript reviewers": ("view_mcpserver",),
}


def grant_permissions(apps: Any, schema_editor: Any) -> None:
    app_config = apps.get_app_config("chat")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUP_PERMISSIONS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label="chat", codename__in=codenames)
            )


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0005_covering_analytics_index'),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.CreateModel(
            name='McpServer',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.SlugField(help_text="Short identifier. The model sees each tool as this name, two underscores and the tool's name, e.g. github__search_issues.", unique=True)),
                ('url', models.CharField(help_text="The server's Streamable HTTP endpoint, e.g. http://127.0.0.1:8001/mcp.", max_length=500, verbose_name='URL')),
                ('header_variables', models.JSONField(blank=True, default=dict, help_text='Headers sent with every request, each as the name of the environment variable holding its value (never the value), e.g. Authorization: GITHUB_MCP_AUTH.')),
                ('enabled', models.BooleanField(default=True, help_text="A disabled server's tools are offered to no model.")),
                ('timeout_seconds', models.FloatField(default=30.0, help_text='Longest a tool call may take before the model is told it timed out.', validators=[django.core.validators.MinValueValidator(0.1)])),
                ('all_tools_allowed', models.BooleanField(default=True, help_text='Offer every tool the server listed; untick to choose them below.')),
                ('allowed_tools', models.JSONField(blank=True, default=list, help_text='The tools offered when not all are.')),
                ('approval_tools', models.JSONField(blank=True, default=list, help_text="Calls to these tools wait for the user's approval before they run.", verbose_name='tools needing approval')),
                ('max_output_chars', models.PositiveIntegerField(blank=True, help_text="A tool's output is cut after this many characters; empty uses the site setting CHAT_MCP_MAX_OUTPUT_CHARS.", null=True, validators=[django.core.validators.MinValueValidator(1)], verbose_name='max output characters')),
                ('listed_tools', models.JSONField(blank=True, default=list, editable=False, help_text='The tools the last successful Test connection listed: [{name, description, input_schema}].')),
                ('listed_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'verbose_name': 'MCP server',
                'ordering': ['name'],
            },
        ),
        migrations.AddField(
            model_name='modelconfig',
            name='mcp_servers',
            field=models.ManyToManyField(blank=True, help_text='Servers whose allowed tools this model may call, beside the built-in tools.', related_name='model_configs', to='chat.mcpserver', verbose_name='MCP servers'),
        ),
        migrations.RunPython(grant_permissions, migrations.RunPython.noop),
    ]
