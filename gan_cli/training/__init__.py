"""The training loop and its upkeep: building a run, the step, checkpoints and resume, the periodic
grids, scalars and evaluations, the experiment trackers they go to (logger=), health, progress and
plots. Imports families, data, metrics, objectives, device and the ground floor; never commands."""
