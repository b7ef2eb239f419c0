"""All checks of a calculator as one report, and calculators named on the command line.

:func:`verify_report` runs, on one structure, the symmetry checks
(:func:`~ace_ref.verify.symmetry.check_invariance`, and for ace_ref models
:func:`~ace_ref.verify.symmetry.check_equivariance` of the basis features), the derivative
check (:func:`~ace_ref.verify.derivatives.check_forces`), the body-order spectrum
(:func:`~ace_ref.verify.body_order.body_order`, judged against the order the model's basis
claims) and the cutoff scan (:func:`~ace_ref.verify.smoothness.check_smoothness`);
:func:`format_report` prints the rows. :func:`calculator_from_spec` turns ``"model.npz"``,
``"emt"``, ``"lj"`` or ``"module:factory"`` into a calculator, and :func:`default_structure`
gives a small cluster of a calculator's elements.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import math
from pathlib import Path

import numpy as np
from ase import Atoms

from ace_ref.basis.interface import Basis
from ace_ref.verify._common import CheckResult
from ace_ref.verify.body_order import body_order
from ace_ref.verify.derivatives import check_forces
from ace_ref.verify.smoothness import check_smoothness
from ace_ref.verify.symmetry import check_equivariance, check_invariance

__all__ = [
    "LJ_PARAMETERS",
    "verify_report",
    "format_report",
    "calculator_from_spec",
    "default_structure",
]


LJ_PARAMETERS = {"sigma": 2.0, "epsilon": 0.01, "rc": 5.0}
"""Parameters of the ``lj`` calculator of :func:`calculator_from_spec` (Å, eV, Å)."""


# ---------------------------------------------------------------------- report
def _local_cluster(atoms: Atoms, size: int) -> Atoms:
    """Atom 0 and its ``size − 1`` nearest neighbours (periodic images included), as a
    finite cluster."""
    if not np.any(atoms.pbc):
        size = min(size, len(atoms))
        vectors = atoms.positions - atoms.positions[0]
        order = np.argsort(np.linalg.norm(vectors, axis=1), kind="stable")[:size]
        return Atoms(atoms.numbers[order], positions=atoms.positions[order])
    from ase.neighborlist import neighbor_list

    cutoff = 3.0
    while True:
        i, j, D = neighbor_list("ijD", atoms, cutoff, self_interaction=False)
        mine = i == 0
        if mine.sum() >= size - 1 or cutoff > 40.0:
            break
        cutoff *= 1.5
    j, D = j[mine], D[mine]
    order = np.argsort(np.linalg.norm(D, axis=1), kind="stable")[: size - 1]
    numbers = np.concatenate([[atoms.numbers[0]], atoms.numbers[j[order]]])
    positions = atoms.positions[0] + np.vstack([np.zeros(3), D[order]])
    return Atoms(numbers, positions=positions)


def _claimed_body_order(calc) -> int | None:
    """The body order an ace_ref model's basis claims (``None`` for a foreign calculator)."""
    basis = getattr(getattr(calc, "model", None), "basis", None)
    return int(basis.body_order()) if isinstance(basis, Basis) else None


def verify_report(
    calc,
    atoms: Atoms,
    *,
    n_trials: int = 3,
    seed: int = 0,
    max_M: int | None = None,
    sample: int | None = None,
    expected_body_order: int | None = None,
    features_fn=None,
    L: int = 1,
    smoothness: bool = True,
    body_cluster_size: int = 6,
    progress: bool = False,
) -> list[CheckResult]:
    """Run every applicable check; returns the rows (see :func:`format_report`).

    * invariance (:func:`check_invariance`) and finite differences (:func:`check_forces`)
      on ``atoms``;
    * equivariance of ``features_fn`` at ``L`` (default for our models: the basis' ``L``
      features);
    * body order of ``atoms`` if it is a finite cluster of at most 8 atoms, otherwise of the
      ``body_cluster_size`` atoms nearest to atom 0 (periodic images included); compared with
      ``expected_body_order`` (default for our models: correlation order + 1). The row's
      ``details`` hold the spectrum (for :func:`plot_body_order`);
    * smoothness (:func:`check_smoothness`) of every pair of species present in ``atoms``.
    """
    rows = check_invariance(calc, atoms, n_trials=n_trials, seed=seed)
    basis = getattr(getattr(calc, "model", None), "basis", None)
    if features_fn is None and isinstance(basis, Basis) and basis.has_equivariant_features:

        def features_fn(a, _basis=basis, _L=L):
            return _basis.features(a, L=_L)

    if features_fn is not None:
        rows += check_equivariance(features_fn, atoms, L, n_trials=n_trials, seed=seed)
    rows += check_forces(calc, atoms, seed=seed)
    if not np.any(atoms.pbc) and len(atoms) <= 8:
        cluster = atoms
    else:
        cluster = _local_cluster(atoms, body_cluster_size)
    spectrum = body_order(calc, cluster, max_M=max_M, sample=sample, seed=seed, progress=progress)
    if expected_body_order is None:
        expected_body_order = _claimed_body_order(calc)
    rows.append(spectrum.check(expected_body_order))
    if smoothness:
        symbols = sorted(set(atoms.get_chemical_symbols()))
        for pair in itertools.combinations_with_replacement(symbols, 2):
            rows += check_smoothness(calc, species=pair)
    return rows


def format_report(rows: list[CheckResult]) -> str:
    """Plain-text table: check, sub-check, PASS/FAIL, max error, scale, tol, message."""
    head = (
        f"{'check':<13} {'sub-check':<26} {'result':<6} {'max err':>10} {'scale':>10} "
        f"{'tol':>10}  note"
    )
    lines = [head, "-" * len(head)]

    def num(x):
        return f"{x:>10.3g}" if x is not None and math.isfinite(x) else f"{'-':>10}"

    for r in rows:
        lines.append(
            f"{r.check:<13} {r.name:<26} {'PASS' if r.passed else 'FAIL':<6} "
            f"{num(r.max_error)} {num(r.scale)} {num(r.tol)}  {r.message}"
        )
    n_fail = sum(not r.passed for r in rows)
    lines.append(
        f"{len(rows) - n_fail}/{len(rows)} checks passed" + (f"; {n_fail} FAILED" if n_fail else "")
    )
    return "\n".join(lines)


# ---------------------------------------------------------------------- CLI helpers
def _import_module(name: str):
    """``importlib.import_module(name)``, falling back to ``NAME.py`` or the package
    ``NAME/`` in the working directory (as ``python -m`` would find it), without changing
    ``sys.path``."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name.split(".")[0] or "." in name:
            raise
        here = Path.cwd()
        candidates = [here / f"{name}.py", here / name / "__init__.py"]
        source = next((c for c in candidates if c.is_file()), None)
        if source is None:
            raise
        spec = importlib.util.spec_from_file_location(name, source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def calculator_from_spec(spec: str):
    """The calculator named on the command line.

    * a model file (``.npz`` of :meth:`ace_ref.models.linear.LinearACEModel.save`):
      ``ace_ref.models.load.load(path).calculator()``;
    * ``emt``: :class:`ase.calculators.emt.EMT`;
    * ``lj``: :class:`ase.calculators.lj.LennardJones` with :data:`LJ_PARAMETERS`
      (σ = 2.0 Å, ε = 0.01 eV, r_c = 5.0 Å; ASE's unsmoothed form: energy shifted to zero
      at r_c, forces jump there);
    * ``module:factory``: ``importlib.import_module(module).factory()``.

    Raises ``ValueError`` for anything else.
    """
    key = spec.strip()
    if key.lower() == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if key.lower() == "lj":
        from ase.calculators.lj import LennardJones

        return LennardJones(**LJ_PARAMETERS)
    path = Path(key)
    if path.exists() or key.endswith(".npz"):
        from ace_ref.models.load import load

        return load(path).calculator()
    if ":" in key:
        module_name, _, attr = key.partition(":")
        try:
            module = _import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"cannot import module {module_name!r} of {spec!r}: {exc}") from exc
        factory = getattr(module, attr, None)
        if not callable(factory):
            raise ValueError(f"{module_name} has no callable {attr!r}")
        calc = factory()
        if not hasattr(calc, "get_potential_energy") and not hasattr(calc, "calculate"):
            raise ValueError(f"{spec}() returned {type(calc).__name__}, not an ASE calculator")
        return calc
    raise ValueError(
        f"unknown calculator {spec!r}: give a model file (.npz), 'emt', 'lj' or 'module:factory'"
    )


def _random_cluster(elements, n: int, rng, d_min: float = 1.0, d_max: float = 2.0) -> Atoms:
    symbols = [elements[k % len(elements)] for k in range(n)]
    rng.shuffle(symbols)
    pos = [np.zeros(3)]
    while len(pos) < n:
        anchor = pos[rng.integers(len(pos))]
        v = rng.normal(size=3)
        cand = anchor + v / np.linalg.norm(v) * rng.uniform(d_min, d_max)
        if min(np.linalg.norm(cand - p) for p in pos) >= d_min:
            pos.append(cand)
    return Atoms(symbols, positions=np.array(pos))


def default_structure(calc, seed: int = 0) -> Atoms:
    """A small finite cluster suited to ``calc`` (used when no structure is given).

    Our models: 5 atoms of the model's elements at random positions (seeded), each within
    1–2 Å of another and no two closer than 1 Å. ``EMT`` and any other calculator: a
    5-atom Cu cluster (fcc nearest-neighbour fragment, a = 3.61 Å, rattled by 0.05 Å).
    ``LennardJones``: the same fragment scaled to σ-sized spacing, as Ar.
    """
    rng = np.random.default_rng(seed)
    basis = getattr(getattr(calc, "model", None), "basis", None)
    if basis is not None:
        return _random_cluster(list(basis.elements), 5, rng)
    frag = np.array([[0, 0, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, -1, 0]], dtype=float) / 2
    from ase.calculators.lj import LennardJones

    if isinstance(calc, LennardJones):
        spacing = 2 ** (1 / 6) * calc.parameters.sigma
        atoms = Atoms("Ar5", positions=frag * spacing * np.sqrt(2))
    else:
        atoms = Atoms("Cu5", positions=frag * 3.61)
    atoms.rattle(0.05, seed=seed)
    return atoms
