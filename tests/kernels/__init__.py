"""Tests of ace_ref.kernels."""
