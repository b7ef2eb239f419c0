"""Tests of ace_ref.one_particle."""
