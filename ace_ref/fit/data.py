"""Training data: extxyz reading, validation, reference energies E0, weights.

Units inside ace_ref: Å, eV, eV/Å, stress in eV/Å³ with ASE's sign (``σ = (1/V) ∂E/∂ε``,
positive = tensile). Files whose stress is in another unit say so with ``stress_unit``
(``"bar"`` for LAMMPS metal units, ``"GPa"``, ``"eV/A3"``), and files that store the pressure
tensor (``P = −σ``, LAMMPS' ``pressure``/FitSNAP's Ta data) say
``stress_convention="pressure"``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read
from ase.stress import voigt_6_to_full_3x3_stress
from ase.units import GPa, bar

from ace_ref import defaults
from ace_ref.one_particle.neighbours import neighbour_list

__all__ = [
    "UnreadLabelWarning",
    "pair_cutoffs_from_data",
    "Config",
    "read_configs",
    "read_e0",
    "fit_e0",
    "mean_e0",
    "STRESS_UNITS",
    "STRESS_CONVENTIONS",
]


class UnreadLabelWarning(UserWarning):
    """A file carries labels under keys :func:`read_configs` was not told to read."""


STRESS_UNITS = {"eV/A3": 1.0, "GPa": GPa, "bar": bar, "kbar": 1000 * bar}
"""Factors converting a stress unit to eV/Å³."""

STRESS_CONVENTIONS = {"ase": 1.0, "pressure": -1.0}
"""Sign converting a file's stress to ASE's (tension positive)."""


@dataclass
class Config:
    """One labelled structure.

    ``energy`` (eV), ``forces`` (n, 3) eV/Å, ``stress`` (3, 3) eV/Å³ or ``None``;
    ``weight`` multiplies all its rows; ``force_weights`` (n,) per atom; ``source`` names the
    file and index for messages.
    """

    atoms: Atoms
    energy: float | None
    forces: np.ndarray | None
    stress: np.ndarray | None
    config_type: str = "default"
    weight: float = 1.0
    force_weights: np.ndarray | None = None
    source: str = ""
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _ReadOptions:
    """How :func:`read_configs` interprets each configuration."""

    energy_key: str
    forces_key: str
    stress_key: str
    virial_key: str
    stress_factor: float
    require: tuple[str, ...]
    weight_key: str
    force_weight_key: str
    elements: tuple[str, ...] | None


def _voigt_to_matrix(s: np.ndarray) -> np.ndarray:
    s = np.asarray(s, dtype=float).reshape(-1)
    if s.size == 9:
        return s.reshape(3, 3)
    if s.size == 6:  # ASE Voigt order xx yy zz yz xz xy
        return voigt_6_to_full_3x3_stress(s)
    raise ValueError(f"stress must have 6 or 9 components, got {s.size}")


def _get(atoms: Atoms, key: str, per_atom: bool):
    if per_atom and key in atoms.arrays:
        return atoms.arrays[key]
    if not per_atom and key in atoms.info:
        return atoms.info[key]
    calc = atoms.calc
    if calc is not None and key in getattr(calc, "results", {}):
        return calc.results[key]
    return None


def _unused_label_keys(atoms: Atoms, name: str, used: tuple[str, ...]) -> list[str]:
    """Keys of ``atoms`` that look like the label ``name`` ("forces": per-atom arrays with
    "force" in the name; "energy"/"stress": info entries) but are not the ones read."""
    if name == "forces":
        pool, stems = atoms.arrays, ("force",)
    elif name == "stress":
        pool, stems = atoms.info, ("stress", "virial")
    else:
        pool, stems = atoms.info, ("energy",)
    return sorted(
        k
        for k in pool
        if k not in used and any(stem in k.lower() for stem in stems) and "weight" not in k.lower()
    )


def read_configs(
    paths,
    energy_key: str = defaults.ENERGY_KEY,
    forces_key: str = defaults.FORCES_KEY,
    stress_key: str = defaults.STRESS_KEY,
    virial_key: str = defaults.VIRIAL_KEY,
    stress_unit: str = "eV/A3",
    stress_convention: str = "ase",
    require: tuple[str, ...] = ("energy",),
    weight_key: str = "config_weight",
    force_weight_key: str = "force_weights",
    elements: list[str] | None = None,
) -> list[Config]:
    """Read labelled configurations from extxyz files (``ase.io.read(path, ":")``).

    Parameters
    ----------
    energy_key, forces_key, stress_key
        Where the labels are: ``atoms.info[energy_key]``, ``atoms.arrays[forces_key]``,
        ``atoms.info[stress_key]`` (6 Voigt or 9 components), or a calculator's results.
    virial_key
        Used where a configuration has no stress: the virial ``W = −V σ`` (eV, the GAP/MACE
        extxyz convention), converted to ``σ = −W / V`` before ``stress_unit`` applies.
    require
        Properties every configuration must have (``"energy"``, ``"forces"``, ``"stress"``);
        a missing one is an error naming the file and configuration.
    elements
        If given, a configuration containing another element is an error.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    if stress_unit not in STRESS_UNITS:
        raise ValueError(f"unknown stress unit {stress_unit!r}; choose from {list(STRESS_UNITS)}")
    if stress_convention not in STRESS_CONVENTIONS:
        raise ValueError(
            f"unknown stress convention {stress_convention!r}; choose from "
            f"{list(STRESS_CONVENTIONS)}"
        )
    options = _ReadOptions(
        energy_key, forces_key, stress_key, virial_key,
        STRESS_UNITS[stress_unit] * STRESS_CONVENTIONS[stress_convention],
        tuple(require), weight_key, force_weight_key,
        None if elements is None else tuple(elements),
    )  # fmt: skip
    configs: list[Config] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"data file {path} does not exist")
        try:
            frames = read(path, ":")
        except Exception as exc:  # ASE raises many types for malformed files
            raise ValueError(
                f"{path}: cannot be read as extxyz ({type(exc).__name__}: {exc})"
            ) from exc
        if not frames:
            raise ValueError(f"{path}: contains no configurations")
        first = len(configs)
        for k, atoms in enumerate(frames):
            where = f"{path}, configuration {k}"
            configs.append(_config(atoms, where, options))
        _warn_unread_labels(path, frames, configs[first:], options)
    return configs


def _warn_unread_labels(path, frames, configs, o: _ReadOptions) -> None:
    """Warn when a file's configurations lack forces or stress under the keys read but carry
    keys that look like them (``REF_forces``, ``DFT_stress``): those labels would be dropped."""
    for name, key, flag in (
        ("forces", o.forces_key, "--forces-key"),
        ("stress", o.stress_key, "--stress-key"),
    ):
        lacking = [i for i, c in enumerate(configs) if getattr(c, name) is None]
        if not lacking:
            continue
        used = (key, o.virial_key, o.force_weight_key, o.weight_key)
        hints = sorted({k for i in lacking for k in _unused_label_keys(frames[i], name, used)})
        if hints:
            warnings.warn(
                f"{path}: {len(lacking)} of {len(configs)} configurations have no {name} under "
                f"the key {key!r} but carry {', '.join(map(repr, hints))}; they are fitted "
                f"without {name} (give {flag} {hints[0]} to use them)",
                UnreadLabelWarning,
                stacklevel=3,
            )


def _config(atoms, where: str, o: _ReadOptions) -> Config:
    n = len(atoms)
    if n == 0:
        raise ValueError(f"{where}: no atoms")
    if not np.all(np.isfinite(atoms.positions)):
        raise ValueError(f"{where}: non-finite positions")
    if o.elements is not None:
        for i, sym in enumerate(atoms.get_chemical_symbols()):
            if sym not in o.elements:
                raise ValueError(f"{where}: atom {i} is {sym}, not one of {list(o.elements)}")
    energy = _get(atoms, o.energy_key, per_atom=False)
    forces = _get(atoms, o.forces_key, per_atom=True)
    stress = _get(atoms, o.stress_key, per_atom=False)
    virial = None if stress is not None else _get(atoms, o.virial_key, per_atom=False)
    for name, value in (("energy", energy), ("forces", forces), ("stress", stress)):
        if name in o.require and value is None and not (name == "stress" and virial is not None):
            key = {"energy": o.energy_key, "forces": o.forces_key, "stress": o.stress_key}[name]
            hints = _unused_label_keys(atoms, name, (key, o.virial_key))
            hint = ""
            if hints:
                hint = f"; it has {', '.join(map(repr, hints))}: give --{name}-key {hints[0]}"
            raise ValueError(f"{where}: no {name} (looked for key {key!r}{hint})")
    if energy is not None:
        try:
            energy = float(energy)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: energy {energy!r} is not a number") from exc
        if not np.isfinite(energy):
            raise ValueError(f"{where}: energy is {energy}")
    if forces is not None:
        forces = np.asarray(forces, dtype=float)
        if forces.shape != (n, 3):
            raise ValueError(f"{where}: forces have shape {forces.shape}, expected ({n}, 3)")
        if not np.all(np.isfinite(forces)):
            raise ValueError(f"{where}: forces contain NaN or inf")
    if stress is None and virial is not None:
        if not np.all(atoms.pbc):
            raise ValueError(f"{where}: virial given for a structure that is not fully periodic")
        try:
            stress = -_voigt_to_matrix(virial) / atoms.get_volume()
        except ValueError as exc:
            raise ValueError(f"{where}: {o.virial_key}: {exc}") from exc
    if stress is not None:
        try:
            stress = _voigt_to_matrix(stress) * o.stress_factor
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc
        if not np.all(np.isfinite(stress)):
            raise ValueError(f"{where}: stress contains NaN or inf")
        if not np.all(atoms.pbc):
            raise ValueError(f"{where}: stress given for a structure that is not fully periodic")
    weight = float(atoms.info.get(o.weight_key, 1.0))
    if not (np.isfinite(weight) and weight >= 0):
        raise ValueError(f"{where}: {o.weight_key}={weight} must be a non-negative number")
    fw = atoms.arrays.get(o.force_weight_key)
    if fw is not None:
        fw = np.asarray(fw, dtype=float).reshape(-1)
        if fw.shape != (n,) or np.any(fw < 0) or not np.all(np.isfinite(fw)):
            raise ValueError(f"{where}: {o.force_weight_key} must be {n} non-negative numbers")
    clean = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    return Config(
        atoms=clean,
        energy=energy,
        forces=forces,
        stress=stress,
        config_type=str(atoms.info.get("config_type", "default")),
        weight=weight,
        force_weights=fw,
        source=where,
        info=dict(atoms.info),
    )


def read_e0(path, energy_key: str = "energy") -> dict[str, float]:
    """Isolated-atom reference energies from a file of single-atom configurations."""
    configs = read_configs(path, energy_key=energy_key, require=("energy",))
    e0: dict[str, float] = {}
    for c in configs:
        if len(c.atoms) != 1:
            raise ValueError(
                f"{c.source}: isolated-atom file holds a {len(c.atoms)}-atom "
                "structure; each entry must be one atom"
            )
        sym = c.atoms.get_chemical_symbols()[0]
        if sym in e0 and abs(e0[sym] - c.energy) > 1e-8:
            raise ValueError(f"{c.source}: two different isolated energies for {sym}")
        e0[sym] = c.energy
    return e0


def fit_e0(configs: list[Config], elements: list[str]) -> dict[str, float]:
    """Least-squares E0 per element from total energies: ``E ≈ Σ_z N_z E0_z``.

    Refused (``ValueError``) when the composition matrix ``N_z`` has rank below the number
    of elements: then only some combinations of the E0 are determined by the energies (all
    configurations share one stoichiometry, or an element never occurs) and a least-squares
    split would be arbitrary, e.g. E0(H) = −800 eV.
    """
    rows = [c for c in configs if c.energy is not None]
    if not rows:
        raise ValueError("cannot fit E0: no configuration has an energy")
    X = np.array(
        [[np.sum(c.atoms.get_chemical_symbols() == np.array(el)) for el in elements] for c in rows],
        dtype=float,
    )
    y = np.array([c.energy for c in rows])
    rank = np.linalg.matrix_rank(X)
    if rank < len(elements):
        absent = [el for el, n in zip(elements, X.sum(axis=0), strict=True) if n == 0]
        why = (
            f"{', '.join(absent)} never occur{'s' if len(absent) == 1 else ''} in them"
            if absent
            else f"the {len(rows)} configurations with energies span only {rank} "
            f"composition{'s' if rank > 1 else ''} (e.g. {rows[0].atoms.get_chemical_formula()})"
        )
        raise ValueError(
            f"cannot fit E0 of {', '.join(elements)} from the training energies: {why}, so "
            "any split of the energy among the elements fits equally well; give isolated-atom "
            "energies (--e0 FILE or --e0 H=-13.6,C=-1029.8), or --e0 mean to give every "
            "element the mean energy per atom"
        )
    e0, *_ = np.linalg.lstsq(X, y, rcond=None)
    return {el: float(v) for el, v in zip(elements, e0, strict=True)}


def mean_e0(configs: list[Config], elements: list[str]) -> dict[str, float]:
    """The same E0 for every element: the mean of ``E / N_atoms`` over the configurations
    with energies (a reference when the data cannot tell the elements apart)."""
    rows = [c for c in configs if c.energy is not None]
    if not rows:
        raise ValueError("cannot compute the mean energy per atom: no configuration has one")
    value = float(np.mean([c.energy / len(c.atoms) for c in rows]))
    return {el: value for el in elements}


def elements_of(configs: list[Config]) -> list[str]:
    """Sorted (by atomic number) set of elements in the configurations."""
    from ase.data import atomic_numbers

    found = {s for c in configs for s in c.atoms.get_chemical_symbols()}
    return sorted(found, key=lambda s: atomic_numbers[s])


def pair_cutoffs_from_data(
    configs: list[Config],
    elements: list[str],
    r_cut: float,
    margin: float = defaults.DATA_CUTOFF_MARGIN,
    max_gap: float | None = None,
    sparse_tail: float = 0.02,
) -> dict:
    """Per species-pair cutoffs no longer than the data can support.

    For every species pair, ``r_max`` is the largest distance below ``r_cut`` at which the
    training data show that pair. A pair whose ``r_max + margin < r_cut`` (e.g. the two oxygens
    of one small molecule, seen only 2.4–2.9 Å apart) gets the cutoff ``r_max + margin``: its
    radial functions then vanish where no data constrained them, instead of extrapolating a
    polynomial across ``(r_max, r_cut)``. With ``max_gap`` (Å), a sparse tail is dropped as
    well: ``r_max`` is the last distance before the first gap wider than ``max_gap`` beyond
    which less than ``sparse_tail`` of the pair's distances lie (in acetylacetone: H–O,
    nothing between 3.48 and 4.32 Å and 0.9 % beyond). Every other pair keeps ``r_cut``.
    Returns the ``r_cut`` dict of :class:`~ace_ref.basis.ace.ACEBasis` (``"default": r_cut``).
    """
    if not margin > 0:
        raise ValueError(f"the cutoff margin must be positive, got {margin}")
    if max_gap is not None and not max_gap > 0:
        raise ValueError(f"max_gap must be positive, got {max_gap}")
    seen: dict[tuple[str, str], list[np.ndarray]] = {}
    for c in configs:
        nl = neighbour_list(c.atoms, r_cut, c.source)
        if nl.n_pairs == 0:
            continue
        symbols = np.array(c.atoms.get_chemical_symbols())
        r = np.linalg.norm(nl.vectors, axis=1)
        a, b = symbols[nl.i], symbols[nl.j]
        for x, y in {(p, q) for p, q in zip(a, b, strict=True)}:
            key = tuple(sorted((x, y)))
            seen.setdefault(key, []).append(r[(a == x) & (b == y)])
    cutoffs: dict = {"default": float(r_cut)}
    for i, x in enumerate(elements):
        for y in elements[i:]:
            found = seen.get(tuple(sorted((x, y))))
            if found is None:
                continue
            r = np.unique(np.concatenate(found))
            r_max = float(r[-1])
            if max_gap is not None:
                counts = np.searchsorted(np.sort(np.concatenate(found)), r, side="right")
                n_all = counts[-1]
                for k in np.nonzero(np.diff(r) > max_gap)[0]:
                    if (n_all - counts[k]) < sparse_tail * n_all:
                        r_max = float(r[k])
                        break
            if r_max + margin < r_cut:
                cutoffs[(x, y)] = r_max + margin
    return cutoffs
