"""Referentially complete extraction of one district from PROD to Parquet."""

# Rows per Parquet row group of the extract. DuckDB scans a file a row group per thread, and the
# transform's largest models (free text losing names, in worker processes: udf_workers.py) use
# both of dbt's DuckDB threads only when their file has several row groups (a 46k-row table was
# one group of DuckDB's default 122,880).
ROW_GROUP_ROWS = 8192

# What DuckDB names a Parquet row's position in its file (read_parquet's file_row_number), which
# the load reads; DuckDB gives none for a file holding a column of that name, so the extract
# refuses one.
ROW_POSITION = "file_row_number"
