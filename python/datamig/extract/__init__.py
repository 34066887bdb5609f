"""Referentially complete extraction of one district from PROD to Parquet."""
