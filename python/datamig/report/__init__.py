"""The final report of a run (JSON + Markdown + self-contained HTML)."""
