"""Saliency evaluation: attributions (Captum), accuracy-drop (MoRF) curves and their AUC, figures."""
