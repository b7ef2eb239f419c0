"""Tests of ace_ref.fit."""
