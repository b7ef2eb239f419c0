"""How the ridge λ of the greedy ranking changes the chosen functions (issue 18, item 1).

acac, the quick start's pool (11 046 functions, per-element budgets): one Gram summary
(``assemble(..., method="normal")``), then for each λ the greedy choice of ``k`` functions
(default 3500), refitted with BLR on their Gram sub-summary and scored on test_MD_300K and,
where ../shared/data has it, train_600K. Also prints the λ that ``ace_ref.fit`` uses
(:func:`ace_ref.fit.selection.selection_ridge`: BLR on the ``k`` columns the prior favours).

Run::

    python benchmarks/selection_lambda.py [--k 3500] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import ace_ref
from ace_ref import defaults
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.data import pair_cutoffs_from_data
from ace_ref.fit.presets import default_element_scales
from ace_ref.fit.selection import greedy_columns, selection_ridge, subset_system
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from acac_element_budgets import load_data, set_errors  # noqa: E402

LAMBDAS = [1e-13, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8]


def main(k: int, out: str | None) -> dict:
    elements, train, sets, e0, _ = load_data("acac")
    basis = ace_ref.ACEBasis(
        elements,
        defaults.ORDER,
        max_degree=defaults.MAX_DEGREE,
        r_cut=pair_cutoffs_from_data(train, elements, defaults.R_CUT),
        element_degree_scale=default_element_scales(elements),
    )
    K = len(basis)
    t0 = time.perf_counter()
    pool = assemble(basis, train, e0, Weights.parse(defaults.WEIGHTS), False, method="normal")
    result = {"k": k, "pool_K": K, "gram_seconds": time.perf_counter() - t0, "rows": []}
    gamma = smoothness_prior(basis, defaults.SMOOTHNESS, defaults.ORDER_WEIGHTS)
    result["selection_ridge_lambda"] = selection_ridge(pool, k, gamma)
    print(json.dumps({key: v for key, v in result.items() if key != "rows"}), flush=True)
    for lam in LAMBDAS:
        t0 = time.perf_counter()
        picked = greedy_columns(pool, k, lam, gamma)
        row = {"lam": lam, "greedy_s": time.perf_counter() - t0}
        S = picked.first(k)
        solution = solve(subset_system(pool, S), "blr", gamma[S])
        c = np.zeros(K)
        c[S] = solution.coefficients
        model = LinearACEModel(basis, c, e0)
        row["blr_lambda"] = solution.info["lambda"]
        row.update(set_errors(model, sets, digits=3))
        print(json.dumps(row), flush=True)
        result["rows"].append(row)
    if out:
        Path(out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=3500)
    p.add_argument("--json")
    a = p.parse_args()
    main(a.k, a.json)
