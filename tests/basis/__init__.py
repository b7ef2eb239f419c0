"""Tests of ace_ref.basis."""
