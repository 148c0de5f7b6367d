"""Distributed plumbing: connecting to (or starting) Ray, the Ray Train adapter, collectives.

The only package of the library that imports Ray (sweep/ray_tune.py aside); each module imports
it only where it is needed, so `import smoot_dist.launch` alone imports no Ray.
"""
