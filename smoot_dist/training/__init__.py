"""Training without Ray: the one-process Trainer, its batches, checkpoints, the epoch loop that
both the in-process run and the Ray workers call, and what a finished run hands back."""
