"""Introspection of the estate and the dependency graph built from it."""
