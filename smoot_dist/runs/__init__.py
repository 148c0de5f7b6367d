"""A training run's two records: its folder (folder.py: the files in it; naming, finding, locking
and resuming runs) and its MLflow run (tracking.py: every call the project makes to MLflow)."""
