"""Stage measure: accuracy per variant, the side-by-side timing stage, and the statistics both report (rules measure, timing)."""
