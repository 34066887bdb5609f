"""Post-load verification of a run against CERT."""
