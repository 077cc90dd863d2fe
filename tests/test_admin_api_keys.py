"""Staff can issue an API key in admin: it works, and it is shown once, never stored."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat.models import ApiKey

# The API call runs its database helpers on another thread: real transactions needed.
pytestmark = pytest.mark.django_db(transaction=True)


def test_key_added_in_admin_is_shown_once_and_works() -> None:
    superuser = User.objects.create_superuser("root", password="root-password")
    owner = User.objects.create_user("bob")
    browser = Client()
    browser.force_login(superuser)

    response = browser.post(
        "/admin/chat/apikey/add/", {"user": owner.pk, "name": "laptop"}, follow=True
    )
    assert response.status_code == 200
    shown = re.search(r"sk-chat-[\w-]{40,}", response.content.decode())
    assert shown is not None
    key = ApiKey.objects.get(user=owner)
    assert key.name == "laptop" and shown.group() not in (key.prefix, key.key_hash)

    api = Client(headers={"authorization": f"Bearer {shown.group()}"})
    assert api.get("/api/v1/conversations").status_code == 200
    # Not shown again anywhere in admin.
    page = browser.get(f"/admin/chat/apikey/{key.pk}/change/").content.decode()
    assert shown.group() not in page
