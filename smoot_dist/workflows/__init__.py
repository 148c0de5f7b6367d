"""A job from start to end, as its library call: the checks before it starts (preflight.py),
the in-process or Ray path of training (train.py, in_process.py; Ray's in launch/), the closing
saliency evaluation (final_evaluation.py), evaluating a finished run (evaluate.py), explaining a
user's images (explain.py), the motivation experiment (motivation.py), and their MLflow records.
The layer above training, evaluation, reports and launch, which it drives."""
