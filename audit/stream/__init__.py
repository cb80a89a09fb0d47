"""Streamed audits: read the data in chunks, keep mergeable statistics, reduce once.

The seam is engine-neutral: ``reader`` yields partitions (chunks of rows), ``score`` turns
each into statistics that add up (confusion counts per fine cell), and ``fairness``'s
``fairness_from_counts`` reduces them, so another engine only has to produce the partitions.
"""
