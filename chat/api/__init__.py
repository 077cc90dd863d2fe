"""The JSON + SSE API (docs/api.md): thin adapters over the engine and its event log."""
