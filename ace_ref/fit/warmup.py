"""Compile the kernels that a fit runs after its assembly, in a background process.

On a fresh install Numba compiles every kernel on its first call (``cache=True`` then keeps
it on disk). A fit compiles its design-row kernels first, on one core, while the other core
has nothing to do; the kernels it needs only at the end (prediction for the error tables,
features for the active set, the BLR solve) used to compile there, about 7 s on a fast core.
:func:`start` compiles those in a separate low-priority process (``nice`` 19: it takes only
idle time) while the fit reads, plans and compiles, so that the fit later loads them from the
cache. The process evaluates a model with random coefficients on a small basis of the same
kind as the fit's (:func:`small_spec`: same elements, cutoffs, radial basis and budgets, low
degrees), so the kernels are compiled for the argument types the fit will use (tested).

Nothing depends on the warm-up: if it is late, fails, or is stopped (:func:`stop`), the fit
compiles what it needs as before. It is started only when the prediction kernel is not in
the cache yet (a first run), and only by ``ace-ref fit``, never by the library's
:func:`ace_ref.fit.fit`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from ase import Atoms

from ace_ref.basis.ace import ACEBasis

__all__ = ["compile_post_fit_kernels", "kernels_cached", "small_spec", "start", "stop"]


def kernels_cached() -> bool:
    """Whether the prediction kernel already has an entry in Numba's on-disk cache (then a
    warm-up has nothing to do). ``True`` if that cannot be told."""
    from ace_ref.kernels import predict

    try:
        return Path(predict._energy_forces._cache._cache_file._index_path).exists()
    except AttributeError:  # another Numba's internals, or caching off: do not warm up
        return True


def start(basis: ACEBasis) -> subprocess.Popen | None:
    """Start the warm-up for ``basis`` (an :class:`ACEBasis`), or return ``None`` when the
    kernels are cached already or the basis is of another kind."""
    if not isinstance(basis, ACEBasis) or kernels_cached():
        return None
    fd, spec = tempfile.mkstemp(prefix="ace_ref_warmup_", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(basis.to_dict(), f)
    return subprocess.Popen(
        [sys.executable, "-m", "ace_ref.fit.warmup", spec],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.nice(19)) if hasattr(os, "nice") else None,
    )


def stop(process: subprocess.Popen | None) -> None:
    """End the warm-up process if it still runs (the fit no longer needs it)."""
    if process is None:
        return
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


def compile_post_fit_kernels(basis: ACEBasis) -> None:
    """Call, once, the kernels a fit runs after its assembly, in the order it needs them: a
    BLR solve with a posterior committee on a small QR summary, the basis's features (active
    set), and prediction (energy and forces) of a model on ``basis``. Any basis of the same
    kind (elements, cutoffs, radial basis, budgets) compiles the same kernel signatures, so
    :func:`main` gives a small one."""
    from ace_ref.fit.assembly import LinearSystem
    from ace_ref.fit.solvers import solve
    from ace_ref.models.linear import LinearACEModel

    rng = np.random.default_rng(0)
    K = 200
    R = np.triu(rng.normal(size=(K, K))) + 10 * np.eye(K)
    system = LinearSystem("qr", 1.0 + K, 2 * K, 1, R=R, z=rng.normal(size=K))
    solve(system, "blr", np.ones(K), committee_size=2)
    atoms = _small_structure(basis.elements)
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


def main(argv: list[str]) -> int:
    """``python -m ace_ref.fit.warmup SPEC.json``: a small basis of the kind of ``SPEC.json``
    (:func:`small_spec`; the file is removed after reading), then
    :func:`compile_post_fit_kernels`."""
    spec = Path(argv[0])
    try:
        d = json.loads(spec.read_text())
    finally:
        spec.unlink(missing_ok=True)
    compile_post_fit_kernels(ACEBasis.from_dict(small_spec(d)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
