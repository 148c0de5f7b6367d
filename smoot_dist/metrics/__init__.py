"""The saliency metrics, one module or subpackage per family (as Quantus groups them):
faithfulness (the accuracy-drop curves MoRF and LeRF, ROAD), randomisation (the sanity checks:
MPRT, random logit), localisation, robustness (max-sensitivity, infidelity), complexity
(sparseness, entropy), model robustness (PGD) and, on a decoy dataset, the shortcut (accuracy
on its test views, the attribution's share on the decoy patch). What they measure: docs/method.md.

Each family declares its metrics in the registry (registry.py); importing this package imports
the families in the order every table shows their metrics, so the registry is whole."""

from .faithfulness import drop as _faithfulness  # noqa: F401  (declares morf, lerf)
from .randomisation import sanity as _randomisation  # noqa: F401  (mprt, random_logit)
from . import localisation, robustness, complexity, model_robustness  # noqa: F401, I001
from . import shortcut  # noqa: F401
from .registry import (Batch, Column, Metric, MethodBatch, battery_metrics, columns, curve_keys,
                       decoy_metrics, drop_metrics, get_metric, has_direction, help_line,
                       higher_is_better, method_free_keys, metric_names, percent_keys,
                       register_metric, settings_of, table_columns)

__all__ = [
    "Batch", "Column", "Metric", "MethodBatch", "battery_metrics", "columns", "curve_keys",
    "decoy_metrics", "drop_metrics", "get_metric", "has_direction", "help_line",
    "higher_is_better", "method_free_keys",
    "metric_names", "percent_keys", "register_metric", "settings_of", "table_columns",
]
