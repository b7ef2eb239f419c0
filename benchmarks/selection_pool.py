"""Greedy selection from a pool larger than a direct fit could afford (issue 18, item 1).

A direct fit keeps about one coefficient per two training rows (``defaults.ROWS_PER_COEFFICIENT``)
and its QR summary and solve grow as ``K²`` and ``K³``. A pool for selection only needs its
Gram summary (``n_rows K²`` flops, ``8 K²`` bytes, ranked in place); the fit that follows is on
the ``k`` chosen functions. This script asks whether a larger pool gives better ``k``.

The pool is the default basis (per-element budgets) with the default degrees times
``--pool-scale`` (1: the unscaled default, 32 070 functions for H/C/N/O). Its Gram summary is
assembled once on the training data, ranked once to the largest size (ridge: the
:func:`ace_ref.fit.selection.selection_ridge` of the middle size), and then, for each size,
the chosen basis (``with_columns``) is assembled anew as a QR summary and fitted with BLR,
exactly as ``ace_ref.fit(..., select=k)`` does it.

Run::

    python benchmarks/selection_pool.py --data 3bpa --pool-scale 1 --sizes 5000 8000 11000 \
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction
from pathlib import Path

import ace_ref
from ace_ref import defaults
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.cost import measure_flop_rate
from ace_ref.fit.data import pair_cutoffs_from_data
from ace_ref.fit.presets import default_element_scales
from ace_ref.fit.selection import greedy_columns, selection_ridge
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from acac_element_budgets import load_data, set_errors  # noqa: E402


def main(data: str, pool_scale: Fraction, sizes: list[int], fold: int, out: str | None):
    elements, train, sets, e0, _ = load_data(data, fold)
    weights = Weights.parse(defaults.WEIGHTS)
    pool_basis = ace_ref.ACEBasis(
        elements,
        defaults.ORDER,
        max_degree=[pool_scale * Fraction(d) for d in defaults.MAX_DEGREE],
        r_cut=pair_cutoffs_from_data(train, elements, defaults.R_CUT),
        element_degree_scale=default_element_scales(elements),
    )
    K = len(pool_basis)
    result = {
        "data": data,
        "fold": fold if data == "3bpa" else None,
        "pool_scale": str(pool_scale),
        "pool_K": K,
        "dgemm_GFLOPs": measure_flop_rate() / 1e9,
        "rows": [],
    }
    print(json.dumps(result), flush=True)
    t0 = time.perf_counter()
    pool = assemble(pool_basis, train, e0, weights, False, method="normal")
    result["seconds_pool_gram"] = time.perf_counter() - t0
    gamma = smoothness_prior(pool_basis, defaults.SMOOTHNESS, defaults.ORDER_WEIGHTS)
    t0 = time.perf_counter()
    middle = sorted(sizes)[len(sizes) // 2]
    lam = selection_ridge(pool, middle, gamma)
    picked = greedy_columns(pool, max(sizes), lam, gamma, overwrite=True)
    del pool
    result["seconds_ranking"] = time.perf_counter() - t0
    result["lambda"] = lam
    result["order"] = picked.order.tolist()
    print(
        f"pool Gram {result['seconds_pool_gram']:.0f} s, ranking {result['seconds_ranking']:.0f} s",
        flush=True,
    )
    for k in sorted(sizes):
        t0 = time.perf_counter()
        basis = pool_basis.with_columns(picked.order[:k])
        system = assemble(basis, train, e0, weights, False)
        t_assembly = time.perf_counter() - t0
        solution = solve(system, "blr", smoothness_prior(basis, defaults.SMOOTHNESS,
                                                         defaults.ORDER_WEIGHTS))  # fmt: skip
        model = LinearACEModel(basis, solution.coefficients, e0)
        row = {
            "K": k,
            "K_per_element": {
                el: len(basis.species_columns(z)) for z, el in enumerate(basis.elements)
            },
            "lambda": solution.info["lambda"],
            "effective_parameters": solution.info["effective_parameters"],
            "seconds_assembly": t_assembly,
            "seconds_fit": time.perf_counter() - t0,
        }
        row.update(set_errors(model, sets))
        print(json.dumps(row), flush=True)
        result["rows"].append(row)
        if out:
            Path(out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=["acac", "3bpa"], default="3bpa")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--pool-scale", type=Fraction, default=Fraction(1))
    p.add_argument("--sizes", type=int, nargs="+", default=[5000, 8000, 11000])
    p.add_argument("--json")
    a = p.parse_args()
    main(a.data, a.pool_scale, a.sizes, a.fold, a.json)
