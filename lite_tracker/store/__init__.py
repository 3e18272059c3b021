"""The embedded store: per-process Parquet segments, the compactor that folds them into one DuckDB
file, the readers, the locks and the artifact repositories. Knows nothing above it."""
