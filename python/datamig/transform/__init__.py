"""The transform phase: drift gate, `dbt build` of the run, validation report."""
from .run import transform

__all__ = ["transform"]
