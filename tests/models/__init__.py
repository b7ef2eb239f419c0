"""Tests of ace_ref.models."""
