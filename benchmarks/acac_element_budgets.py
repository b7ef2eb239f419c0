"""Per-element degree budgets on acetylacetone, exactly, from one assembly (issue 18, item 1).

The default basis gives every central element the same functions. This script asks whether
moving coefficients from one element to another helps at equal K. Each variant scales the
default total degrees ``D_ν`` (``defaults.MAX_DEGREE``) by a factor per central element.

One QR summary ``[R | z]`` is assembled for the largest basis, the default degrees times
``--outer`` (1.1, the ``accurate`` preset). Every variant's functions are a subset ``S`` of its
columns. Because ``‖A c − y‖² = ‖R c − z‖² + const`` for every ``c`` that is zero outside
``S``, the variant's least-squares problem is exactly ``‖R[:, S] c_S − z‖²``. One QR of
``[R[:, S] | z]`` (``2 K |S|²`` flops) turns it back into a triangle; then comes the BLR solve
of :func:`ace_ref.fit` with the default prior restricted to ``S``. No design matrix is
rebuilt. With every factor 1 the variant is the default basis, and the script must
reproduce the quick start's errors (2.146 meV, 11.396 meV/Å).

Errors are printed on test_MD_300K (the packaged test set) and, where ../shared/data has it,
on the hotter train_600K set (extrapolation).

Run::

    python benchmarks/acac_element_budgets.py --variants H=1,C=1,O=1 H=0.8,C=1.1,O=1 \
        [--outer 1.1] [--json out.json] [--save-dir DIR]

``--save-dir`` saves each variant as ``ace_ref.fit`` would build it (coverage, committee, ZBL
core; no active set), for ``benchmarks/acac_md_stability.py`` and ``ace-ref probe``.
"""

from __future__ import annotations

import argparse
import json
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import scipy.linalg

import ace_ref
from ace_ref import defaults
from ace_ref.fit.assembly import LinearSystem, Weights, assemble
from ace_ref.fit.data import pair_cutoffs_from_data, read_configs, read_e0
from ace_ref.fit.errors import compute_errors
from ace_ref.fit.pipeline import training_uncertainty
from ace_ref.fit.presets import choose_degree_for_data
from ace_ref.fit.solvers import Solution, smoothness_prior, solve
from ace_ref.models.core import RepulsiveCore
from ace_ref.models.linear import LinearACEModel
from ace_ref.models.load import model_for

ROOT = Path(__file__).resolve().parents[1]
ACAC = ROOT / "ace_ref" / "example_data" / "acac"
HOT = ROOT.parent / "shared" / "data" / "acac" / "train_600K.xyz"
BPA = ROOT.parent / "shared" / "data" / "3bpa"
ELEMENTS = ["H", "C", "O"]


def subset_system(system: LinearSystem, keep: np.ndarray) -> LinearSystem:
    """The QR summary of the columns ``keep`` of ``system``'s rows (exact, see docstring)."""
    m = int(keep.sum())
    T = scipy.linalg.qr(np.column_stack([system.R[:, keep], system.z]), mode="r", overwrite_a=True)[
        0
    ][: m + 1]
    return LinearSystem(
        "qr", system.yy, system.n_rows, system.n_configs, R=np.triu(T[:m, :m]), z=T[:m, m].copy()
    )


def variant_columns(basis, scales: dict[str, Fraction], base_degree) -> np.ndarray:
    """Columns whose degree is within ``scales[element] · D_ν`` for their central element
    (``D_ν = base_degree[ν-1]``)."""
    degrees = basis.column_degrees()
    orders = basis.column_orders()
    per_species = len(basis) // len(basis.elements)
    species = np.repeat(np.arange(len(basis.elements)), per_species)
    bound = np.array(
        [
            float(scales[basis.elements[s]] * Fraction(base_degree[nu - 1]))
            for s, nu in zip(species, orders, strict=True)
        ]
    )
    return degrees <= bound + 1e-9


def set_errors(model, sets: dict, digits: int | None = None) -> dict[str, list[float]]:
    """``{label: [energy RMSE (meV), force RMSE (meV/Å)]}`` of ``model`` on each set."""
    out = {}
    for label, configs in sets.items():
        s = compute_errors(model, configs, label).sets()[label]
        pair = [s["energy_rmse_meV"], s["forces_rmse_meV_per_A"]]
        out[label] = pair if digits is None else [round(x, digits) for x in pair]
    return out


def load_data(data: str, fold: int = 0):
    """``(elements, train, held-out sets, E0, default degrees D_ν)`` of one data set.

    ``acac``: the packaged train_300K, tested on test_MD_300K and (if ../shared has it) the
    hotter train_600K; degrees ``defaults.MAX_DEGREE``. ``3bpa``: fold ``fold`` of the
    5-fold split of ``benchmarks/bpa_cv.py`` (same seed), degrees chosen from the fold's data
    as ``ace-ref fit`` chooses them.
    """
    if data == "acac":
        train = read_configs(ACAC / "train_300K.xyz")
        sets = {"test_MD_300K": read_configs(ACAC / "test_MD_300K.xyz")}
        if HOT.exists():
            sets["train_600K"] = read_configs(HOT)
        e0 = read_e0(ACAC / "isolated_atoms.xyz")
        return ELEMENTS, train, sets, e0, [Fraction(d) for d in defaults.MAX_DEGREE]
    if not BPA.exists():
        raise SystemExit(f"3BPA needs {BPA} (the shared data directory)")
    configs = read_configs(BPA / "train_300K.xyz")
    order = np.random.default_rng(0).permutation(len(configs))  # as bpa_cv.py
    held = np.array_split(order, 5)[fold]
    train = [configs[i] for i in order if i not in set(held.tolist())]
    sets = {f"fold{fold}": [configs[i] for i in held]}
    e0 = read_e0(BPA / "iso_atoms.xyz")
    elements = ["H", "C", "N", "O"]
    degree = choose_degree_for_data(train, elements, element_degree_scale=None).max_degree
    return elements, train, sets, e0, [Fraction(d) for d in degree]


def main(
    variants: list[dict[str, Fraction]],
    outer: Fraction,
    out: str | None,
    save_dir=None,
    data: str = "acac",
    fold: int = 0,
) -> list[dict]:
    elements, train, sets, e0, base_degree = load_data(data, fold)
    for scales in variants:
        if sorted(scales) != sorted(elements):
            raise SystemExit(f"give a scale for each of {elements}: {scales}")
    basis = ace_ref.ACEBasis(
        elements,
        defaults.ORDER,
        max_degree=[outer * d for d in base_degree],
        r_cut=pair_cutoffs_from_data(train, elements, defaults.R_CUT),
    )
    t0 = time.perf_counter()
    system = assemble(basis, train, e0, Weights.parse(defaults.WEIGHTS), False)
    print(f"outer basis K = {len(basis)}, assembly {time.perf_counter() - t0:.0f} s", flush=True)
    gamma = smoothness_prior(basis, defaults.SMOOTHNESS, defaults.ORDER_WEIGHTS)
    rows = []
    for scales in variants:
        if any(s > outer for s in scales.values()):
            raise SystemExit(f"a scale in {scales} exceeds --outer {outer}")
        t0 = time.perf_counter()
        keep = variant_columns(basis, scales, base_degree)
        sub = subset_system(system, keep)
        solution = solve(sub, "blr", gamma[keep])
        c = np.zeros(len(basis))
        c[keep] = solution.coefficients
        committee = None
        if solution.committee is not None:
            committee = np.zeros((len(solution.committee), len(basis)))
            committee[:, keep] = solution.committee
        full = Solution(c, solution.info, committee)
        if save_dir:  # as ace_ref.fit builds it: coverage, committee and the ZBL core
            uncertainty = training_uncertainty(basis, train, full, 0)
            core = RepulsiveCore.from_coverage(
                elements, uncertainty.coverage, defaults.CORE_INNER, defaults.CORE_OUTER
            )
            model = model_for(basis, c, e0, {"scales": str(scales)}, uncertainty, core)
        else:
            model = LinearACEModel(basis, c, e0)
        per_species = len(basis) // len(elements)
        row = {
            "scales": {el: str(v) for el, v in scales.items()},
            "K": int(keep.sum()),
            "K_per_element": {
                el: int(keep[k * per_species : (k + 1) * per_species].sum())
                for k, el in enumerate(elements)
            },
            "effective_parameters": solution.info.get("effective_parameters"),
        }
        row.update(set_errors(model, sets))
        row["seconds"] = time.perf_counter() - t0
        if save_dir:
            name = "_".join(f"{el}{scales[el]}".replace("/", "-") for el in elements)
            row["model"] = str(model.save(Path(save_dir) / f"{data}_budget_{name}.npz"))
        print(json.dumps(row), flush=True)
        rows.append(row)
    if out:
        Path(out).write_text(json.dumps(rows, indent=1))
    return rows


def _scales(text: str) -> dict[str, Fraction]:
    out = {}
    for item in text.split(","):
        el, value = item.split("=")
        out[el.strip()] = Fraction(value.strip())
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", type=_scales, nargs="+", default=[_scales("H=1,C=1,O=1")])
    p.add_argument("--data", choices=["acac", "3bpa"], default="acac")
    p.add_argument("--fold", type=int, default=0, help="3BPA: which of the 5 folds is held out")
    p.add_argument("--outer", type=Fraction, default=defaults.PRESETS["accurate"])
    p.add_argument("--json")
    p.add_argument("--save-dir", help="save each variant's model (with core and committee)")
    a = p.parse_args()
    main(a.variants, a.outer, a.json, a.save_dir, a.data, a.fold)
