"""Training: the one-process Trainer, checkpoints, the in-process run, and a whole training job
(`run.run_training`), which hands multi-worker runs to the Ray Train adapter (launch/)."""
