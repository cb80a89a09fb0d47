"""The fairness and data checks: disparities, the four-fifths rule, calibration gaps, small
groups and base-rate gaps."""
