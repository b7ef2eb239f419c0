"""The documentation, README and notebooks stay consistent with the code."""
