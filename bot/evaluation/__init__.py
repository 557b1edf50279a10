"""Evaluation of a cohort: linked before/after survey answers, engagement, and the report."""
