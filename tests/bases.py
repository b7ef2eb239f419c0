"""Basis specifications shared by tests in more than one folder."""

from __future__ import annotations

SPARSIFY_SPEC = dict(order=3, max_degree=[7, 7, 6], w_L=1, r_cut=4.0)
"""The H/O basis the NequIP-style sparsifications are compared with."""

SPARSIFICATIONS = {
    "chain": dict(coupling="chain"),
    "chain_L1": dict(coupling="chain", lmax_hidden=1),
    "chain_L0": dict(coupling="chain", lmax_hidden=0),
    "uvu": dict(channels="uvu"),
    "chain_L1_uvu": dict(coupling="chain", lmax_hidden=1, channels="uvu"),
}
"""Keyword arguments added to ``SPARSIFY_SPEC`` for each sparsification."""
