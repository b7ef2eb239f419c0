"""The one random-structure generator of the tests."""

from __future__ import annotations

import numpy as np
from ase import Atoms


def random_cluster(
    rng: np.random.Generator,
    symbols: str | list[str],
    *,
    box: float,
    min_distance: float,
    cell=None,
    pbc: bool = False,
    max_tries: int = 100_000,
) -> Atoms:
    """Atoms ``symbols`` at positions uniform in the cube ``[0, box)³``, redrawn until every
    pair is more than ``min_distance`` apart (minimum image when ``pbc``).

    Every pair is then at most ``box·√3`` apart, so ``box`` controls which pairs are inside a
    cutoff. Each draw is ``rng.uniform(0, box, size=(n, 3))``: ``min_distance=0`` keeps the
    first draw. ``cell`` and ``pbc`` make a periodic structure of the same positions.
    """
    atoms = Atoms(symbols, cell=cell, pbc=pbc)
    n = len(atoms)
    upper = np.triu_indices(n, 1)
    for _ in range(max_tries):
        atoms.positions = rng.uniform(0, box, size=(n, 3))
        if n < 2 or atoms.get_all_distances(mic=bool(np.any(pbc)))[upper].min() > min_distance:
            return atoms
    raise RuntimeError(f"no {n} atoms more than {min_distance} Å apart in a {box} Å box")
