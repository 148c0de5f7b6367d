"""Ray Tune sweeps over SMOOT's settings: the search space, the per-epoch objective, the Tune
adapter (each trial a Ray Train run) and the whole sweep job (table, plots, best config)."""
