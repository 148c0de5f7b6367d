"""A saliency evaluation and its record: the protocol that names it (protocol.py), the battery
that computes every metric of it over the test images (battery.py, measure.py), the record it
leaves in a run folder (record.py), and the trained run it reads (trained_run.py). The metrics
are smoot_dist.metrics; what reads records and shows them is smoot_dist.reports."""
