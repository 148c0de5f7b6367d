"""What every layer stands on, and nothing of the method: the errors a user can fix (errors.py),
the dataset names (catalog.py), comma lists of names (choices.py), where files live ($SMOOT_HOME,
home.py), atomic writes and locks (files.py), remote calls under a time bound (deadline.py),
SIGTERM (signals.py) and progress through long loops (progress.py)."""
