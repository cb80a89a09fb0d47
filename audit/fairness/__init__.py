"""Fairness: group metrics and disparities with intervals (Fairlearn), calibration, and the
checks that judge them."""
