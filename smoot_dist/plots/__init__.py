"""Figures people would rather look at than read: what they share (figure.py), K's distribution
(k_distribution.py), curves and intervals (curves.py), images with their maps (images.py)."""
