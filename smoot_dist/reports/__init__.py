"""What reads evaluation records and shows them: the comparison of runs (table, CSV, curves,
saliency figure), the results pages and their tables, the tuned-settings page and the paired
claims."""
