"""Reading the audited data: tables (CSV, Parquet), the target and sensitive columns, slices."""
