"""smoot_dist: saliency-guided training (traditional, SGT, SMOOT) of image classifiers.

The core (everything here except the Ray adapter modules) imports no Ray, so it runs in a
plain Python process and on machines without Ray.
"""

__version__ = "0.1.0"
