r"""The repulsive core of a model as a LAMMPS ``pair_style table`` file.

ML-PACE (``pair_style pace``) evaluates the ACE part of a model; the fixed ZBL core of
:class:`~ace_ref.models.core.RepulsiveCore` is a pair potential, which LAMMPS adds with
``pair_style hybrid/overlay pace … table spline N``. The table holds, per species pair, ``V(r)``
and ``F(r) = −dV/dr`` on ``N`` points equally spaced in ``r`` from :data:`TABLE_INNER` to the
pair's ``r_out`` (where ``V`` and ``F`` are zero); LAMMPS interpolates it with cubic splines.
The spline error is ``O(h⁴ V⁗)``: with :data:`TABLE_POINTS` points the relative error of the
pair energy stays below about ``1e-8`` where ZBL is steepest, and is far smaller where the
switch takes the core to zero (``tests/models/test_lammps_table.py`` checks it against
LAMMPS itself when the ``lammps`` module is installed).

Below ``TABLE_INNER`` LAMMPS stops with "Pair distance < table inner cutoff": two atoms that
close (a ZBL energy of tens of keV) are a broken simulation, not a state to model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ace_ref._atomic_write import atomic_path
from ace_ref.models.core import RepulsiveCore

__all__ = ["TABLE_INNER", "TABLE_POINTS", "core_table_commands", "write_core_table"]

TABLE_INNER = 0.05
"""Shortest distance (Å) in the table."""

TABLE_POINTS = 20000
"""Points per species pair (and ``N`` of ``pair_style table spline N``)."""


def _keyword(a: str, b: str) -> str:
    return f"{a}_{b}"


def write_core_table(core: RepulsiveCore, path: str | Path, n_points: int = TABLE_POINTS) -> Path:
    """Write ``core`` as a LAMMPS table file, one section per species pair (``H_C``), atomically."""
    path = Path(path)
    lines = [
        "# ZBL repulsive core of an ace_ref model (ace_ref.models.core.RepulsiveCore)",
        "# UNITS: metal (Å, eV); columns: index, r, V(r), F(r) = -dV/dr",
        "",
    ]
    els = core.elements
    for a in range(len(els)):
        for b in range(a, len(els)):
            r = np.linspace(TABLE_INNER, core.outer[a, b], n_points)
            v, dv = core.pair_energy(r, a, b)
            lines += [_keyword(els[a], els[b]), f"N {n_points} R {r[0]:.16g} {r[-1]:.16g}", ""]
            lines += [
                f"{k + 1} {x:.17g} {e:.17e} {-f:.17e}"
                for k, (x, e, f) in enumerate(zip(r, v, dv, strict=True))
            ]
            lines.append("")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path


def core_table_commands(
    core: RepulsiveCore,
    yace_path: str | Path,
    table_path: str | Path,
    type_elements: list[str],
    evaluator: str = "recursive",
    n_points: int = TABLE_POINTS,
) -> tuple[str, list[str]]:
    """``pair_style`` and ``pair_coeff`` lines of ``pace`` plus the core table, overlaid.

    ``type_elements[k]`` is the element of LAMMPS atom type ``k + 1``.
    """
    els = core.elements
    lines = [f"pair_coeff * * pace {yace_path} {' '.join(type_elements)}"]
    for i, ei in enumerate(type_elements, start=1):
        for j, ej in enumerate(type_elements, start=1):
            if j < i or ei == "NULL" or ej == "NULL":
                continue
            a, b = sorted((els.index(ei), els.index(ej)))
            keyword = _keyword(els[a], els[b])
            lines.append(f"pair_coeff {i} {j} table {table_path} {keyword} {core.outer[a, b]:.16g}")
    style = f"pair_style hybrid/overlay pace {evaluator} table spline {n_points}"
    return style, lines
