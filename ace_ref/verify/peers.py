"""Specifications of peer codes for the same basis (used by cross-checks and benchmarks).

Peers are optional (``pip install --pre ".[bench]"``); nothing here imports them at module load.
"""

from __future__ import annotations

__all__ = ["pyace_potential_config", "pyace_basis_configuration"]


def pyace_potential_config(elements, max_n, max_l, r_cut: float = 5.0) -> dict:
    """pacemaker/pyace potential dictionary for ``nradmax_by_orders=max_n``,
    ``lmax_by_orders=max_l`` with a linear embedding (``FinnisSinclairShiftedScaled`` with
    ``fs_parameters=[1, 1]``, one density) and the ``SBessel`` radial basis."""
    return {
        "deltaSplineBins": 0.001,
        "elements": list(elements),
        "embeddings": {
            "ALL": {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1], "ndensity": 1}
        },
        "bonds": {
            "ALL": {"radbase": "SBessel", "radparameters": [5.25], "rcut": r_cut, "dcut": 0.01}
        },
        "functions": {"ALL": {"nradmax_by_orders": list(max_n), "lmax_by_orders": list(max_l)}},
    }


def pyace_basis_configuration(elements, max_n, max_l, r_cut: float = 5.0):
    """``pyace.BBasisConfiguration`` for the spec above (requires pyace)."""
    from pyace import create_multispecies_basis_config

    return create_multispecies_basis_config(pyace_potential_config(elements, max_n, max_l, r_cut))
