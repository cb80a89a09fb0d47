"""An example rai-audit plugin: per sensitive column, the gap between its groups' mean scores.

``stage.ScoreMeansStage`` computes each group's mean score with a bootstrap interval;
``check.MeanScoreGapCheck`` measures the largest gap per column and lets rai-audit's engine
grade it against the plugin's threshold. docs/plugins.md walks through it.
"""
