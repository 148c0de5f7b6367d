"""The attribution methods an evaluation explains a model with (Grad, SmoothGrad, Integrated
Gradients, DeepLift, GradientShap, DeepLiftShap, Random), through Captum. Each is declared once
in the registry (registry.py); importing this package declares the built-in ones (methods.py)."""

from . import methods  # noqa: F401  (declares the built-in methods)
from .registry import (AttributionMethod, Build, attribution_methods, get_attribution,
                       parse_methods, register_attribution, title)

__all__ = ["AttributionMethod", "Build", "attribution_methods", "get_attribution",
           "parse_methods", "register_attribution", "title"]
