"""The ``robustness.*`` checks: they read the robustness stage's report."""
