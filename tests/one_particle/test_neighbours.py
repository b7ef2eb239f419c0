"""Neighbour lists: exact pairs against brute force, and odd structures refused or handled."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ase import Atoms

from ace_ref.one_particle.neighbours import MAX_SPAN_IN_CUTOFFS, neighbour_list


def _brute_force_pairs(positions: np.ndarray, r_cut: float) -> set[tuple[int, int]]:
    d = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    i, j = np.nonzero((d < r_cut) & ~np.eye(len(positions), dtype=bool))
    return set(zip(i.tolist(), j.tolist(), strict=True))


def _pairs(nl) -> set[tuple[int, int]]:
    return set(zip(nl.i.tolist(), nl.j.tolist(), strict=True))


@pytest.mark.parametrize("separation", [10.0, 5e5, 3e7])
def test_clusters_far_apart_give_the_brute_force_pairs(separation):
    # issue 21: atoms 5e5 Å apart killed the interpreter (SIGFPE inside vesin's cell list)
    rng = np.random.default_rng(4)
    positions = np.concatenate(
        [
            rng.uniform(0, 4, (6, 3)),
            rng.uniform(0, 4, (5, 3)) + [separation, 0, 0],
            rng.uniform(0, 4, (4, 3)) + [0, separation, separation / 3],
        ]
    )
    nl = neighbour_list(Atoms("C15", positions=positions), 3.0)
    assert _pairs(nl) == _brute_force_pairs(positions, 3.0)
    expected = positions[nl.j] - positions[nl.i]
    np.testing.assert_allclose(nl.vectors, expected, rtol=0, atol=1e-9 * separation)
    assert np.all(np.diff(nl.i) >= 0)  # sorted by the central atom
    assert nl.offsets[-1] == nl.n_pairs


def test_far_apart_atoms_do_not_kill_the_interpreter():
    # the crash was a signal, so run it where a crash cannot take the test session with it
    code = textwrap.dedent(
        """
        from ase import Atoms
        from ace_ref.one_particle.neighbours import neighbour_list
        nl = neighbour_list(Atoms("Cu2", positions=[[0, 0, 0], [5e5, 0, 0]]), 4.5)
        print(nl.n_pairs)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_a_long_chain_is_refused_with_a_message():
    r_cut = 1.0
    n = int(MAX_SPAN_IN_CUTOFFS * 1.2)
    chain = Atoms(f"H{n}", positions=np.c_[np.arange(n) * 0.9 * r_cut, np.zeros((n, 2))])
    with pytest.raises(ValueError, match=r"config 7: 60000 atoms form a chain .* Å long"):
        neighbour_list(chain, r_cut, where="config 7")


def test_a_tiny_periodic_cell_is_refused_with_a_message():
    # issue 21: a 0.02 Å cell ran out of memory (segfault under a limit)
    atoms = Atoms("Cu", cell=[0.02, 0.02, 0.02], pbc=True)
    with pytest.raises(ValueError, match=r"data.xyz, config 3: the periodic cell is tiny.*in Å"):
        neighbour_list(atoms, 4.5, where="data.xyz, config 3")


def test_a_small_but_real_cell_keeps_all_its_images():
    # one-atom bcc tantalum with a cutoff two lattice constants long: 8 + 6 + 12 + 24 + 8
    a = 3.3
    atoms = Atoms("Ta", cell=0.5 * a * (np.ones((3, 3)) - 2 * np.eye(3)), pbc=True)
    nl = neighbour_list(atoms, 1.01 * a * np.sqrt(3))
    distances = np.sort(np.linalg.norm(nl.vectors, axis=1))
    shells = np.unique(np.round(distances / a, 6), return_counts=True)
    root = np.sqrt([3 / 4, 1, 2, 11 / 4, 3])
    np.testing.assert_allclose(shells[0], np.round(root, 6))
    assert shells[1].tolist() == [8, 6, 12, 24, 8]
