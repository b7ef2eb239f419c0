"""Paths the tests read: the checkout, the shipped example data, the test data."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
"""This folder (``tests/``)."""

ROOT = TESTS.parent
"""The project checkout."""

DATA = TESTS / "data"
"""Test-only data (not shipped in the wheel)."""

ACAC = ROOT / "ace_ref" / "example_data" / "acac"
"""The acetylacetone example data shipped with the package."""

SHARED_DATA = ROOT.parent / "shared" / "data"
"""Larger data sets kept next to the checkout (``../shared/data``); tests using them skip
when it is absent (fixture ``shared_data`` in ``conftest.py``)."""
