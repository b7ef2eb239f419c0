"""Greedy function selection against degree truncation, exactly, from one assembly (issue 18).

The pool is the basis ``ace-ref fit`` builds by default (per-element budgets included): on
acac the quick start's 11 046 functions, on 3BPA fold ``--fold`` the basis chosen from the
fold's 400 configurations. One QR summary of the pool is assembled and solved with BLR (this
must reproduce the quick start's errors on acac). Then, from the same summary:

* **selected**: :func:`ace_ref.fit.selection.greedy_columns` ranks the pool's columns by the
  ridge objective at the pool's BLR ``λ``; the first ``k`` are refitted with BLR and the
  default prior restricted to them;
* **truncated**: the pool's functions of degree ``≤ s · s_z · D_ν`` (the default basis with
  every degree scaled by ``s``, what ``--preset``/``--degree`` give), refitted the same way.

Both are exact subsets (``ace_ref.fit.selection.subset_system``); nothing is reassembled.
Errors on test_MD_300K and, where ../shared/data has it, the hotter train_600K (acac), or the
held-out fold (3BPA).

Run::

    python benchmarks/selection_curve.py [--data acac|3bpa] [--sizes 3000 4500 6500 8000]
        [--scales 0.8 0.9] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

import ace_ref
from ace_ref import defaults
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.data import pair_cutoffs_from_data
from ace_ref.fit.presets import choose_degree_for_data, default_element_scales
from ace_ref.fit.selection import greedy_columns, subset_system
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from acac_element_budgets import load_data, set_errors  # noqa: E402


def truncated_columns(basis, scale: Fraction) -> np.ndarray:
    """The pool's columns of degree ``≤ scale · s_z · D_ν`` (``s_z``: the element's budget)."""
    degrees, orders = basis.column_degrees(), basis.column_orders()
    bound = np.empty(len(basis))
    budgets = basis.element_degree_scale or {}
    for z, el in enumerate(basis.elements):
        cols = basis.species_columns(z)
        s_z = Fraction(budgets.get(el, 1))
        bound[cols] = [float(scale * s_z * basis.max_degree[nu - 1]) for nu in orders[cols]]
    return np.flatnonzero(degrees <= bound + 1e-9)


def main(data: str, sizes: list[int], scales: list[Fraction], fold: int, out: str | None):
    elements, train, sets, e0, _ = load_data(data, fold)
    choice = choose_degree_for_data(train, elements)
    if data == "acac":  # the quick start: the default degrees, not scaled to the data
        choice = choice._replace(
            max_degree=[Fraction(d) for d in defaults.MAX_DEGREE],
            element_degree_scale=default_element_scales(elements),
        )
    basis = ace_ref.ACEBasis(
        elements,
        defaults.ORDER,
        max_degree=choice.max_degree,
        r_cut=pair_cutoffs_from_data(train, elements, defaults.R_CUT),
        element_degree_scale=choice.element_degree_scale,
    )
    K = len(basis)
    t0 = time.perf_counter()
    system = assemble(basis, train, e0, Weights.parse(defaults.WEIGHTS), False)
    print(f"pool K = {K}, assembly {time.perf_counter() - t0:.0f} s", flush=True)
    gamma = smoothness_prior(basis, defaults.SMOOTHNESS, defaults.ORDER_WEIGHTS)

    def refit(columns, kind, label):
        t = time.perf_counter()
        sub = system if len(columns) == K else subset_system(system, columns)
        solution = solve(sub, "blr", gamma[columns])
        c = np.zeros(K)
        c[columns] = solution.coefficients
        model = LinearACEModel(basis, c, e0)
        row = {
            "kind": kind,
            "label": label,
            "K": len(columns),
            "lambda": solution.info["lambda"],
            "effective_parameters": solution.info["effective_parameters"],
            "K_per_element": {
                el: int(np.isin(columns, basis.species_columns(z)).sum())
                for z, el in enumerate(elements)
            },
        }
        row.update(set_errors(model, sets))
        row["seconds"] = time.perf_counter() - t
        print(json.dumps(row), flush=True)
        return row, solution

    rows = []
    full, solution = refit(np.arange(K), "pool", "default")
    rows.append(full)
    t = time.perf_counter()
    selection = greedy_columns(system, max(sizes), solution.info["lambda"], gamma)
    seconds_selection = time.perf_counter() - t
    print(f"greedy selection of {max(sizes)} of {K}: {seconds_selection:.0f} s", flush=True)
    for s in scales:
        rows.append(refit(truncated_columns(basis, s), "truncated", f"degree × {s}")[0])
    for k in sizes:
        rows.append(refit(selection.first(k), "selected", f"greedy {k}")[0])
    result = {
        "data": data,
        "fold": fold if data == "3bpa" else None,
        "pool": basis.describe().splitlines()[0],
        "pool_K": K,
        "seconds_selection": seconds_selection,
        "order": selection.order.tolist(),
        "objective": selection.objective.tolist(),
        "rows": rows,
    }
    if out:
        Path(out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=["acac", "3bpa"], default="acac")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--sizes", type=int, nargs="+", default=[3000, 4500, 6500, 8000])
    p.add_argument("--scales", type=Fraction, nargs="*", default=[Fraction(4, 5), Fraction(9, 10)])
    p.add_argument("--json")
    a = p.parse_args()
    main(a.data, a.sizes, a.scales, a.fold, a.json)
