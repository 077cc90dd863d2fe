"""Django admin: staff configure models, reviewers read transcripts and watch analytics.

Each module registers its own ModelAdmins; importing them here is what registers them.
"""

from __future__ import annotations

from chat.admin import analytics, api_keys, mcp_servers, model_configs, transcripts

__all__ = ["analytics", "api_keys", "mcp_servers", "model_configs", "transcripts"]
