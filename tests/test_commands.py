"""Management commands used by deploy scripts and by `make run`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from chat.models import ApiKey, ModelConfig, hash_api_key

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_api_key_prints_key_once_as_last_word_and_stores_only_its_hash() -> None:
    output = run("create_api_key", "bob")
    key = output.split()[-1]
    assert key.startswith("sk-chat-")
    stored = ApiKey.objects.get(user__username="bob")
    assert stored.key_hash == hash_api_key(key)
    assert key not in {stored.prefix, stored.key_hash, stored.name}
    assert User.objects.get(username="bob").has_usable_password() is False


def test_create_api_key_for_existing_user_keeps_their_password() -> None:
    User.objects.create_user("carol", password="secret-pass-123")
    run("create_api_key", "carol")
    assert User.objects.get(username="carol").check_password("secret-pass-123")


def test_configure_model_creates_then_updates() -> None:
    run(
        "configure_model",
        "local-llama",
        "--provider=openai",
        "--base-url=http://127.0.0.1:11434/v1",
        "--upstream-model=llama3.2",
        "--api-key-env=OLLAMA_KEY",
        "--max-tokens=256",
        "--temperature=0.2",
        "--system-prompt=Be brief.",
        "--history-limit=4",
        "--default",
    )
    config = ModelConfig.objects.get(name="local-llama")
    assert (config.provider, config.upstream_model, config.api_key_env) == (
        "openai",
        "llama3.2",
        "OLLAMA_KEY",
    )
    assert (config.max_tokens, config.temperature, config.history_limit) == (256, 0.2, 4)
    assert config.is_default and config.enabled

    run("configure_model", "local-llama", "--disable", "--max-tokens=512")
    config.refresh_from_db()
    assert (config.enabled, config.max_tokens, config.upstream_model) == (False, 512, "llama3.2")


def test_configure_model_only_one_default() -> None:
    run("configure_model", "a", "--provider=demo", "--default")
    run("configure_model", "b", "--provider=demo", "--default")
    assert list(ModelConfig.objects.filter(is_default=True).values_list("name", flat=True)) == ["b"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--provider=openai", "--base-url=ftp://example.com"], "base_url"),
        (["--provider=openai", "--base-url=http://x", "--temperature=3"], "temperature"),
        (["--provider=openai", "--base-url=http://x", "--api-key-env=sk-live-123"], "api_key_env"),
        (["--base-url=http://x"], "--provider is required"),
    ],
)
def test_configure_model_rejects_bad_settings(args: list[str], problem: str) -> None:
    with pytest.raises(CommandError, match=problem):
        run("configure_model", "bad", *args)
    assert not ModelConfig.objects.filter(name="bad").exists()


def test_seed_models_makes_offline_demo_the_default_on_fresh_install() -> None:
    run("seed_models")
    demo = ModelConfig.objects.get(name="demo")
    assert demo.provider == "demo" and demo.is_default and demo.display_name == "Demo (offline)"
    run("seed_models")
    assert ModelConfig.objects.count() == 1


def test_seed_models_adds_models_named_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LLM_MODEL", "qwen2.5:7b")
    monkeypatch.setenv("LLM_API_KEY", "not-stored")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "not-stored-either")
    run("seed_models")
    llm = ModelConfig.objects.get(provider="openai")
    claude = ModelConfig.objects.get(provider="anthropic")
    assert (llm.base_url, llm.upstream_model, llm.api_key_env) == (
        "http://127.0.0.1:9/v1",
        "qwen2.5:7b",
        "LLM_API_KEY",
    )
    assert claude.api_key_env == "ANTHROPIC_API_KEY"
    # The first real model replaces the demo as default; the key is never in the database.
    assert ModelConfig.objects.get(is_default=True) == llm
    for config in ModelConfig.objects.all():
        assert "not-stored" not in str(config.__dict__)
