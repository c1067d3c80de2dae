"""Priming datasets: SFT records from a run's trees that show the habits a variant names and no others, and their
habit table."""
