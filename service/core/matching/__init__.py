"""From candidates to verdicts: operating points, signals, admission and the cascade."""
