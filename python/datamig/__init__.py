"""datamig: copy one school district from PROD to CERT, anonymized, referentially complete, tested."""

from importlib.metadata import PackageNotFoundError, version

# One version, pyproject's: `datamig --version` and the MCP server's serverInfo both read it.
try:
    __version__ = version("datamig")
except PackageNotFoundError:  # sources on PYTHONPATH with no install behind them
    __version__ = "unknown"
