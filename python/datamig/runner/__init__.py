"""The wrapper runner: one migration as a sequence of phases with recorded state, used by the
CLI and the MCP server alike."""
