"""Real-browser tests: Debian's Chromium, driven by Playwright, against real daphne servers.

Each test gets a fresh Chromium and a fresh browser context (no cookies). Servers are
shared per configuration and use this test run's database and the fake upstream. Without
/usr/bin/chromium these tests skip locally and fail in CI (CI=true), where .ci/run
installs it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.live_server import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium calls home (updates, sync, field
# trials); the tests must only talk to 127.0.0.1.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser tests: install chromium (.ci/run does).")
    pytest.skip("Chromium is not installed (apt-get install chromium); CI runs these tests.")


class LiveServers:
    """One daphne process per distinct configuration, started on first use."""

    def __init__(self) -> None:
        self._servers: dict[tuple[tuple[str, str], ...], LiveServer] = {}

    def get(self, **env: str) -> LiveServer:
        # CHAT_SERVE_STATIC: daphne serves chat.js, chat.css and htmx (DEBUG is off).
        settings = {"CHAT_SERVE_STATIC": "1", **env}
        key = tuple(sorted(settings.items()))
        if key not in self._servers:
            self._servers[key] = LiveServer(extra_env=settings)
        return self._servers[key]

    def stop_all(self) -> None:
        for server in self._servers.values():
            server.stop()


@pytest.fixture(scope="session")
def live_servers(django_db_setup: None) -> Iterator[LiveServers]:
    servers = LiveServers()
    yield servers
    servers.stop_all()


@pytest.fixture
def server(live_servers: LiveServers, transactional_db: None) -> LiveServer:
    """A server where anonymous chat is on (what `make run` gives); a brisk demo model."""
    return live_servers.get(CHAT_ALLOW_ANONYMOUS="1", CHAT_DEMO_TOKEN_DELAY_SECONDS="0.005")


@pytest.fixture
async def browser(chromium_executable: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(viewport=DESKTOP, color_scheme="light")
    yield context
    await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    """A tab; any uncaught script error in it fails the test."""
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"script errors on the page: {errors}"
