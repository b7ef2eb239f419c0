"""Compile, in a background process, the kernels a fit needs after its first compilation.

On a fresh install Numba compiles every kernel on its first call (``cache=True`` then keeps
it on disk): about 13 s on a fast core for a fit, one kernel after another, while the other
core has nothing to do. :class:`Background` compiles all but the first (the pair basis, which the
fit compiles meanwhile) in a separate low-priority process (``nice`` 19: it takes only idle
time): the rest of the design-row kernels, then the BLR solve, the features of the active
set and the prediction of the error tables, in the order the fit needs them, so that the fit
loads them from the cache. The process evaluates a model with random coefficients on a small
basis of the same kind as the fit's (:func:`small_spec`: same elements, cutoffs, radial basis
and budgets, low degrees), so the kernels are compiled for the argument types the fit will
use (tested).

The process starts as soon as ``ace-ref fit`` has checked its options and imports while the
fit reads its data; it gets the basis (:meth:`Background.send`) once the fit has built it.
Nothing depends on it: if it is late, fails, or is stopped (:meth:`Background.stop`), the fit
compiles what it needs as before. It is started only when the prediction kernel is not in
the cache yet (a first run), and only by ``ace-ref fit``, never by the library's
:func:`ace_ref.fit.fit`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
from ase import Atoms

from ace_ref.basis.ace import ACEBasis

__all__ = ["Background", "compile_post_fit_kernels", "kernels_cached", "small_spec"]


def kernels_cached() -> bool:
    """Whether the prediction kernel already has an entry in Numba's on-disk cache (then a
    warm-up has nothing to do). ``True`` if that cannot be told."""
    from ace_ref.kernels import predict

    try:
        return Path(predict._energy_forces._cache._cache_file._index_path).exists()
    except AttributeError:  # another Numba's internals, or caching off: do not warm up
        return True


class Background:
    """The warm-up process of one ``ace-ref fit``: :meth:`start` it as early as possible (it
    imports while the fit reads its data), :meth:`send` it the basis once built, :meth:`stop`
    it when the fit is done. Every method is a no-op when no process was started."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the process, unless the kernels are cached already (not a first run)."""
        if self.process is None and not kernels_cached():
            # run from the directory that holds this ace_ref, so that ``-m`` imports the same
            # package (and Numba caches where the fit looks), not one in the user's directory
            package_parent = Path(__file__).resolve().parents[2]
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ace_ref.fit.warmup"],
                cwd=package_parent,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=(lambda: os.nice(19)) if hasattr(os, "nice") else None,
            )

    def send(self, basis) -> None:
        """Give the process the fit's basis (its spec, on stdin); a basis that is not an
        :class:`ACEBasis` ends it."""
        if self.process is None or self.process.stdin is None or self.process.stdin.closed:
            return
        spec = json.dumps(basis.to_dict()) if isinstance(basis, ACEBasis) else ""
        try:
            self.process.stdin.write(spec.encode())
            self.process.stdin.close()
        except OSError:  # it has ended already: nothing is lost
            pass

    def stop(self) -> None:
        """End the process if it still runs (the fit no longer needs it)."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None and not process.stdin.closed:
            try:
                process.stdin.close()
            except OSError:
                pass
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _small_structure(elements: list[str]) -> Atoms:
    """Eight atoms on a 1.5 Å cube, the basis's elements in turn: every kernel has pairs."""
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float)
    symbols = [elements[k % len(elements)] for k in range(len(corners))]
    return Atoms(symbols, positions=1.5 * corners)


def _compile_design_kernels_after_the_pair_basis(basis: ACEBasis, atoms: Atoms, rng) -> None:
    """The design-row kernels that follow the pair basis (atomic base, features and their
    gradients, the scatter into rows), called as assembly calls them. The pair basis kernel
    itself is the fit's first compilation, which runs meanwhile in the fit; here
    ``basis.pair_basis`` returns arrays of its shapes instead (this basis is the warm-up's
    own), so that these compile on the other core."""
    from ace_ref.fit.assembly import Weights
    from ace_ref.fit.cost import design_rows_as_assembled
    from ace_ref.fit.data import Config

    if basis.purify or basis.pair_radials is not None:
        return  # other kernels come first there; the fit compiles them

    def pair_basis(D, pair_type, extended=True):
        n_slot = basis.n_max * (basis.l_max + 1) ** 2
        return rng.normal(size=(len(D), n_slot)), rng.normal(size=(len(D), n_slot, 3))

    basis.pair_basis = pair_basis
    try:
        config = Config(atoms, 0.0, np.zeros((len(atoms), 3)), None, source="warm-up")
        design_rows_as_assembled(basis, Weights())(config)
    finally:
        del basis.pair_basis


def compile_post_fit_kernels(basis: ACEBasis) -> None:
    """Call, once, the kernels a fit needs after its first compilation (the pair basis), in
    the order it needs them: the rest of the design-row kernels, a BLR solve with a posterior
    committee on a small QR summary, the basis's features (active set), and prediction
    (energy and forces) of a model on ``basis``. Any basis of the same
    kind (elements, cutoffs, radial basis, budgets) compiles the same kernel signatures, so
    :func:`main` gives a small one."""
    from ace_ref.fit.assembly import LinearSystem
    from ace_ref.fit.solvers import solve
    from ace_ref.models.linear import LinearACEModel

    rng = np.random.default_rng(0)
    atoms = _small_structure(basis.elements)
    _compile_design_kernels_after_the_pair_basis(basis, atoms, rng)
    K = 200
    R = np.triu(rng.normal(size=(K, K))) + 10 * np.eye(K)
    system = LinearSystem("qr", 1.0 + K, 2 * K, 1, R=R, z=rng.normal(size=K))
    solve(system, "blr", np.ones(K), committee_size=2)
    basis.features(atoms)
    LinearACEModel(basis, rng.normal(size=len(basis)) * 1e-3).predict(atoms)


SMALL_DEGREE = (Fraction(4), Fraction(4), Fraction(3))
"""The total degrees of the warm-up's basis (orders beyond the third: 3): a few hundred
functions of the fit's kind, built in a fraction of a second."""


def small_spec(spec: dict) -> dict:
    """``spec`` (:meth:`ACEBasis.to_dict`) truncated at :data:`SMALL_DEGREE` instead, without
    a selection of functions: the same kind of basis, small."""
    order = int(spec["order"])
    degrees = [str(SMALL_DEGREE[min(nu, len(SMALL_DEGREE) - 1)]) for nu in range(order)]
    return {**spec, "max_degree": degrees, "max_n": None, "max_l": None,
            "selected_functions": None}  # fmt: skip


def main() -> int:
    """``python -m ace_ref.fit.warmup``: read a basis spec (:meth:`ACEBasis.to_dict`, JSON)
    from stdin; nothing: exit. Then :func:`compile_post_fit_kernels` on a small basis of its
    kind (:func:`small_spec`)."""
    # while the fit reads its data: the imports, and Numba's first (fixed-cost) compilation
    import numba
    import vesin  # noqa: F401  (the neighbour lists' library; it may import torch)

    import ace_ref.fit.cost  # noqa: F401
    import ace_ref.fit.solvers  # noqa: F401
    import ace_ref.models.linear  # noqa: F401

    numba.njit(lambda x: x + 1)(1)
    text = sys.stdin.read()
    if not text.strip():
        return 0
    compile_post_fit_kernels(ACEBasis.from_dict(small_spec(json.loads(text))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
