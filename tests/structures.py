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


def emt_configs(rng: np.random.Generator, n: int, symbols: str, *, box: float, min_distance: float):
    """``n`` random clusters labelled with ASE's EMT energies and forces (``Config`` objects)."""
    from ace_ref.fit import Config
    from ace_ref.verify import calculator_from_spec

    emt = calculator_from_spec("emt")
    configs = []
    for k in range(n):
        atoms = random_cluster(rng, symbols, box=box, min_distance=min_distance)
        atoms.calc = emt
        e, f = atoms.get_potential_energy(), atoms.get_forces()
        configs.append(Config(atoms, e, f, None, source=f"emt cluster {k}"))
    return configs


def write_labelled_xyz(path, configs) -> None:
    """Write ``Config`` objects as an extxyz training file (``energy`` in info, ``forces``)."""
    from ase.io import write

    frames = []
    for c in configs:
        atoms = c.atoms.copy()
        atoms.info["energy"] = c.energy
        atoms.arrays["forces"] = c.forces
        frames.append(atoms)
    write(path, frames, format="extxyz")
