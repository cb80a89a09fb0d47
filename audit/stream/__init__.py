"""Streamed audits: read the data in chunks, keep mergeable statistics, reduce once.

The seam is engine-neutral: ``dataset`` lists the partitions, ``statistics`` holds the two
passes' tasks (each turns a partition into statistics that merge), ``engine`` runs a task on
every partition and folds the results (in this process, or on Dask in ``dask_engine``), and
``run`` reduces them to what ``fairness.fairness_from_counts`` and the sampled stages read.
"""
