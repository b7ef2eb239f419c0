"""Tests of ace_ref.verify."""
