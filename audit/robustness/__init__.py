"""Robustness: whether decisions survive realistic perturbations of a person's inputs, and
whether the effort that would turn a rejection around is equally large for every group."""
