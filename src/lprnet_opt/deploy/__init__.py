"""Deploy bundles: each variant's artifact with a standalone plate reader (`predict.py`), its
runtime's requirements at the measured versions, and a README from the run (rules/deploy.smk)."""
