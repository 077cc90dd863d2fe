"""Tools from MCP servers that staff configure in admin (docs/mcp.md).

`registry.mcp_tools_for(model_config)` gives a model's MCP tools, each behind the tool
contract; `connection` holds one session per server per event loop.
"""
