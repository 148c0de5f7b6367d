"""The models a run trains: the papers' CNN (cnn.py, its dropout in layers.py) and any timm
model, built by name for a dataset (registry.py)."""
