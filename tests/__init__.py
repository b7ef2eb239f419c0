"""Tests of ace_ref; the folders mirror the package's stage subpackages."""
