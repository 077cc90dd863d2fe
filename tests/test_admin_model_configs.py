"""Model configuration in admin: settings, validation, key status, versions, test connection."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import AsyncClient
from django.urls import reverse

from chat.admin.connection_check import FIRST_WORDS
from chat.models import (
    VERSIONED_FIELDS,
    McpServer,
    Message,
    ModelConfig,
    ModelConfigVersion,
    Role,
    setting_value,
)
from tests.admin_fixtures import (
    browser_for,
    demo_model,
    make_configurator,
    make_reviewer,
    make_superuser,
)
from tests.asgi import AsgiClient
from tests.conftest import MakeModel
from tests.fake_upstream import Failure, FakeUpstream, Scenario

ADD = reverse("admin:chat_modelconfig_add")
CHANGELIST = reverse("admin:chat_modelconfig_changelist")


def change_url(config: ModelConfig) -> str:
    return reverse("admin:chat_modelconfig_change", args=[config.pk])


def form_data(config: ModelConfig | None = None, **changes: Any) -> dict[str, Any]:
    """What the change form posts: the config's settings (or a valid new model) changed."""
    data: dict[str, Any] = {
        "name": "local-llama",
        "display_name": "Local llama",
        "provider": "openai",
        "base_url": "http://127.0.0.1:11434/v1",
        "upstream_model": "llama3.2",
        "api_key_env": "",
        "max_tokens": 512,
        "temperature": 0.5,
        "system_prompt": "Be brief.",
        "history_limit": 10,
        "enabled": True,
        "is_default": True,
    }
    if config is not None:
        data = {field: setting_value(config, field) for field in VERSIONED_FIELDS}
        data["mcp_servers"] = list(config.mcp_servers.values_list("pk", flat=True))
    data |= changes
    # Unchecked checkboxes are simply absent from a posted form.
    return {k: ("" if v is None else v) for k, v in data.items() if v is not False}


@pytest.mark.django_db
def test_staff_adds_a_model_with_every_setting_each_explained() -> None:
    McpServer.objects.create(name="files", url="http://127.0.0.1:8001/mcp")
    browser = browser_for(make_configurator())
    page = browser.get(ADD).text
    for field in VERSIONED_FIELDS:
        assert f'name="{field}"' in page
        help_text = str(ModelConfig._meta.get_field(field).help_text)
        assert help_text and help_text.split(",")[0] in page

    response = browser.post(ADD, form_data())
    assert response.status_code == 302
    config = ModelConfig.objects.get(name="local-llama")
    assert (config.upstream_model, config.max_tokens, config.temperature) == ("llama3.2", 512, 0.5)
    assert config.is_default and config.version == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"base_url": "ftp://example.com/v1"}, "base_url", "Enter an http:// or https:// URL."),
        ({"base_url": "api.openai.com/v1"}, "base_url", "Enter an http:// or https:// URL."),
        ({"temperature": 2.5}, "temperature", "Temperature must be between 0 and 2."),
        ({"temperature": -0.1}, "temperature", "Temperature must be between 0 and 2."),
        (
            {"provider": "anthropic", "temperature": 1.5},
            "temperature",
            "Anthropic accepts a temperature between 0 and 1.",
        ),
        ({"max_tokens": 0}, "max_tokens", "greater than or equal to 1"),
        ({"api_key_env": "sk-live-abc123"}, "api_key_env", "not a key"),
        ({"is_default": False}, "is_default", "There is no default model yet"),
        ({"enabled": False}, "enabled", "The default model must be enabled."),
    ],
)
def test_invalid_settings_are_refused_with_the_reason(
    changes: dict[str, Any], field: str, message: str
) -> None:
    response = browser_for(make_configurator()).post(ADD, form_data(**changes))
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    assert not ModelConfig.objects.filter(name="local-llama").exists()


@pytest.mark.django_db
def test_the_default_model_stays_default_until_another_takes_over() -> None:
    first = demo_model("first")
    browser = browser_for(make_configurator())

    refused = browser.post(change_url(first), form_data(first, is_default=False))
    assert "mark another model as the default" in refused.text
    first.refresh_from_db()
    assert first.is_default

    browser.post(ADD, form_data(name="second", is_default=True))
    first.refresh_from_db()
    assert not first.is_default
    assert ModelConfig.objects.get(name="second").is_default
    assert ModelConfig.objects.filter(is_default=True).count() == 1
    # The default cannot be deleted either: the site would be left without one.
    assert (
        browser_for(make_superuser())
        .get(
            reverse(
                "admin:chat_modelconfig_delete", args=[ModelConfig.objects.get(name="second").pk]
            )
        )
        .status_code
        == 403
    )


@pytest.mark.django_db
def test_admin_says_whether_the_key_variable_is_set_and_never_shows_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = demo_model("gpt", provider="openai", base_url="https://api.example.com/v1")
    config.api_key_env = "ADMIN_TEST_KEY"
    config.save()
    browser = browser_for(make_configurator())

    monkeypatch.delenv("ADMIN_TEST_KEY", raising=False)
    assert "ADMIN_TEST_KEY is NOT set on this server" in browser.get(change_url(config)).text

    monkeypatch.setenv("ADMIN_TEST_KEY", "sk-very-secret-value")
    for page in (browser.get(change_url(config)), browser.get(CHANGELIST)):
        assert "ADMIN_TEST_KEY is set on this server" in page.text
        assert "sk-very-secret-value" not in page.text


@pytest.mark.django_db
def test_every_change_keeps_the_previous_settings_with_who_when_and_what() -> None:
    staff = make_configurator()
    browser = browser_for(staff)
    browser.post(ADD, form_data())
    config = ModelConfig.objects.get(name="local-llama")

    browser.post(change_url(config), form_data(config, temperature=0.9, max_tokens=2048))
    config.refresh_from_db()
    assert config.version == 2
    latest, first = list(config.versions.all())
    assert (latest.version, latest.changed_by) == (2, staff)
    assert latest.changes == [
        {"field": "max_tokens", "before": 512, "after": 2048},
        {"field": "temperature", "before": 0.5, "after": 0.9},
    ]
    assert latest.snapshot["temperature"] == 0.9
    assert first.snapshot["temperature"] == 0.5  # the previous settings, kept
    assert first.changes == [] and first.changed_at <= latest.changed_at

    # Saving without changing anything is not a new version.
    browser.post(change_url(config), form_data(config))
    config.refresh_from_db()
    assert config.version == 2

    page = browser.get(change_url(config)).text
    assert "max_tokens: 512 → 2048" in page
    assert "carl-configurator" in page


@pytest.mark.django_db
def test_handing_over_the_default_is_recorded_in_the_old_defaults_history() -> None:
    staff = make_configurator()
    old = demo_model("old")
    browser_for(staff).post(ADD, form_data(name="new", is_default=True))
    old.refresh_from_db()
    change = old.versions.first()
    assert change is not None
    assert (old.version, change.changed_by) == (2, staff)
    assert change.changes == [{"field": "is_default", "before": True, "after": False}]


@pytest.mark.django_db
def test_version_history_is_read_only() -> None:
    config = demo_model()
    config.temperature = 0.3
    config.save()
    version = ModelConfigVersion.objects.get(model_config=config, version=2)
    browser = browser_for(make_superuser())
    page = browser.get(reverse("admin:chat_modelconfigversion_change", args=[version.pk]))
    assert page.status_code == 200
    assert "temperature: None → 0.3" in page.text
    assert browser.get(reverse("admin:chat_modelconfigversion_add")).status_code == 403
    delete = reverse("admin:chat_modelconfigversion_delete", args=[version.pk])
    assert browser.post(delete, {"post": "yes"}).status_code == 403


async def test_each_answer_records_its_config_version_and_the_transcript_shows_it(
    client: AsgiClient, make_model: MakeModel
) -> None:
    config = await make_model(provider="demo", name="demo")
    first = (await client.post("/api/v1/chat", json={"message": "one"})).json()
    config.temperature = 0.2
    await sync_to_async(config.save)()
    second = (
        await client.post(
            "/api/v1/chat",
            json={"message": "two", "conversation_id": first["conversation_id"]},
        )
    ).json()

    answers = [await Message.objects.aget(pk=reply["message"]["id"]) for reply in (first, second)]
    assert [a.model_config_version for a in answers] == [1, 2]

    reviewer = await sync_to_async(User.objects.create_superuser)("root", password="x")
    browser = AsyncClient()
    await browser.aforce_login(reviewer)
    url = reverse("admin:chat_conversation_change", args=[first["conversation_id"]])
    page = (await browser.get(url)).text
    for answer in answers:
        version = await ModelConfigVersion.objects.aget(
            model_config=config, version=answer.model_config_version
        )
        link = reverse("admin:chat_modelconfigversion_change", args=[version.pk])
        assert f'<a href="{link}">v{answer.model_config_version}</a>' in page


async def test_a_disabled_model_is_hidden_from_users_and_old_conversations_still_work(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(provider="demo", name="demo", default=True)
    retired = await make_model(provider="demo", name="retired", default=False)
    reply = (await client.post("/api/v1/chat", json={"message": "hi", "model": "retired"})).json()

    staff = await sync_to_async(make_configurator)()
    browser = AsyncClient()
    await browser.aforce_login(staff)
    data = await sync_to_async(form_data)(retired, enabled=False)
    saved = await browser.post(change_url(retired), data)
    assert saved.status_code == 302

    listed = (await client.get("/api/v1/models")).json()
    assert "retired" not in str(listed)
    conversation_url = f"/api/v1/conversations/{reply['conversation_id']}"
    old = await client.get(conversation_url)
    assert old.status == 200
    assert reply["message"]["content"] in [m["content"] for m in old.json()["messages"]]
    follow_up = await client.post(
        "/api/v1/chat",
        json={"message": "still there?", "conversation_id": reply["conversation_id"]},
    )
    assert follow_up.status == 200
    assert follow_up.json()["message"]["status"] == "complete"
    answer = await Message.objects.aget(pk=follow_up.json()["message"]["id"])
    assert answer.model_name == "demo"
    assert await Message.objects.filter(role=Role.ASSISTANT, model_name="retired").acount() == 1


def openai_model(upstream: FakeUpstream, scenario: Scenario, **fields: Any) -> ModelConfig:
    return ModelConfig.objects.create(
        name=fields.pop("name", "fake"),
        display_name=fields.pop("display_name", "Fake upstream"),
        provider="openai",
        base_url=upstream.url(upstream.add(scenario)),
        upstream_model="fake-model",
        is_default=fields.pop("is_default", True),
        **fields,
    )


def run_test_connection(configs: list[ModelConfig]) -> list[tuple[str, str]]:
    """Run the list action; the (level, text) of the messages it left for the user."""
    browser = browser_for(make_configurator())
    response = browser.post(
        CHANGELIST,
        {"action": "test_connection", "_selected_action": [c.pk for c in configs]},
        follow=True,
    )
    return [(m.level_tag, m.message) for m in response.context["messages"]]


@pytest.mark.django_db
def test_test_connection_reports_ttft_and_the_first_words(upstream: FakeUpstream) -> None:
    words = [f"word{n} " for n in range(FIRST_WORDS + 10)]
    config = openai_model(upstream, Scenario(tokens=words, ttft=0.05, request_id="req-42"))

    [(level, text)] = run_test_connection([config])

    assert level == "success"
    assert "Fake upstream: connected. First token after" in text
    ttft_ms = int(text.split("First token after ")[1].split(" ms")[0])
    assert 50 <= ttft_ms < 2000
    assert "“" + " ".join(w.strip() for w in words[:FIRST_WORDS]) + "”" in text
    assert f"word{FIRST_WORDS} " not in text
    assert "req-42" in text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("scenario", "key_env", "expected"),
    [
        (
            Scenario(failures=[Failure(401, message="Incorrect API key provided")]),
            "",
            "The model provider refused the API key: Incorrect API key provided (AUTH)",
        ),
        (
            Scenario(failures=[Failure(500)] * 3),
            "",
            "The model provider answered 500",
        ),
        (Scenario(), "ADMIN_TEST_UNSET_KEY", "ADMIN_TEST_UNSET_KEY is not set on the server"),
    ],
)
def test_test_connection_reports_the_upstream_error_in_plain_words(
    upstream: FakeUpstream, scenario: Scenario, key_env: str, expected: str
) -> None:
    config = openai_model(upstream, scenario, api_key_env=key_env)
    [(level, text)] = run_test_connection([config])
    assert level == "error"
    assert text.startswith("Fake upstream: the connection test failed.")
    assert expected in text


@pytest.mark.django_db
def test_test_connection_of_an_unreachable_server_says_so() -> None:
    config = ModelConfig.objects.create(
        name="nowhere",
        display_name="Nowhere",
        provider="openai",
        base_url="http://127.0.0.1:9/v1",  # the discard port: nothing listens
        is_default=True,
    )
    [(level, text)] = run_test_connection([config])
    assert level == "error"
    assert "Could not connect to the model provider" in text


@pytest.mark.django_db
def test_change_page_button_tests_the_saved_settings(upstream: FakeUpstream) -> None:
    config = openai_model(upstream, Scenario(tokens=["Hi ", "there"]))
    browser = browser_for(make_configurator())
    url = reverse("admin:chat_modelconfig_test_connection", args=[config.pk])
    assert url in browser.get(change_url(config)).text

    assert browser.get(url).status_code == 405  # a request upstream is never a GET
    response = browser.post(url, follow=True)
    assert response.redirect_chain[-1][0] == change_url(config)
    [message] = list(response.context["messages"])
    assert "“Hi there”" in message.message


@pytest.mark.django_db
def test_reviewers_cannot_run_test_connection(upstream: FakeUpstream) -> None:
    config = openai_model(upstream, Scenario())
    browser = browser_for(make_reviewer())
    url = reverse("admin:chat_modelconfig_test_connection", args=[config.pk])
    assert browser.post(url).status_code == 403
    assert upstream.requests(config.base_url.rsplit("/", 1)[-1]) == []
