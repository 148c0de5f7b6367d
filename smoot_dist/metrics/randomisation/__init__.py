"""Randomisation (sanity checks): does the explanation change when the model's parameters or
the explained class are randomised? MPRT and random logit (sanity.py), with the similarity
measures they compare maps by (similarity.py)."""
