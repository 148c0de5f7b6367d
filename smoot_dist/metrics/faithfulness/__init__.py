"""Faithfulness: does removing the pixels an attribution ranks highest hurt the model most?
MoRF/LeRF accuracy-drop curves and their AUC (morf.py, drop.py), with ROAD's noisy-linear fill
(road.py)."""
