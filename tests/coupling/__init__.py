"""Tests of ace_ref.coupling."""
