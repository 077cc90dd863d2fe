"""The browser chat: pages, htmx partials and the rendered event feed (see docs/architecture.md)."""
