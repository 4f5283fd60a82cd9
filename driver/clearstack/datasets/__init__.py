"""Dataset pipeline: ingest MinIO objects into ClearML datasets and derive zero-copy subsets."""
