"""The saliency metrics, one module or subpackage per family (as Quantus groups them):
faithfulness (the accuracy-drop curves MoRF and LeRF, ROAD), randomisation (the sanity checks:
MPRT, random logit), localisation, robustness (max-sensitivity, infidelity), complexity
(sparseness, entropy) and model robustness (PGD). What they measure: docs/method.md."""
