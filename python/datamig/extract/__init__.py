"""Referentially complete extraction of one district from PROD to Parquet."""

# Rows per Parquet row group of the extract. DuckDB scans a file a row group per thread, and the
# transform's largest models (free text losing names, in worker processes: udf_workers.py) use
# both of dbt's DuckDB threads only when their file has several row groups (a 46k-row table was
# one group of DuckDB's default 122,880).
ROW_GROUP_ROWS = 8192
