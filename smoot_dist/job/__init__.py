"""A job from start to end: the checks before it starts (preflight.py), the in-process or Ray
path of training (train_job.py, in_process.py; Ray's in launch/), the closing saliency
evaluation (final_evaluation.py), evaluating a finished run (evaluate_job.py), and their MLflow
records. The layer above training, evaluation and launch, which it drives."""
