"""The screenshots in docs/, retaken by the browser tests so they follow the UI."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page

DOCS = Path(__file__).resolve().parents[2] / "docs"


async def save_screenshot(page: Page, name: str) -> Path:
    """Write docs/<name>; left untouched when the picture is byte-for-byte the same."""
    image = await page.screenshot(animations="disabled", caret="hide")
    path = DOCS / name
    if not path.exists() or path.read_bytes() != image:
        path.write_bytes(image)
    return path
