"""FitSNAP's sym_ACE coupling coefficients for the C/H/O order-3 basis (n [8,6,4], l [0,6,4]).

Run with the Python of a *throwaway* virtual environment holding ``fitsnap3`` (it is not a
dependency of ace_ref; FitSNAP caches its coupling library inside its own installed
package, so ``--cold`` deletes those cache files first):

    python -m venv --system-site-packages /tmp/fitsnap_venv
    /tmp/fitsnap_venv/bin/pip install --no-deps fitsnap3
    /tmp/fitsnap_venv/bin/python benchmarks/fitsnap_coupling.py [--cold]

What is timed is what FitSNAP's ``ACE`` calculator section does before computing
descriptors (``fitsnap3lib/io/sections/calculator_sections/ace.py``): the descriptor labels
(``descriptor_labels_YSG`` per rank, ``mumax`` = 3 species) and ``AcePot(...)``, whose
constructor builds (cold) or loads (warm) the global generalized Wigner/Clebsch–Gordan
library and then the coupling coefficients of every function. Writing the ``.yace`` file
(``AcePot.write_pot``) is not timed: with NumPy 2 it fails on a float32 JSON value.
Prints one JSON object.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main() -> int:
    cold = "--cold" in sys.argv
    t0 = time.perf_counter()
    from fitsnap3lib.lib.sym_ACE import sym_ACE_settings

    lib = Path(sym_ACE_settings.lib_path)
    caches = [lib / "Wigner_3j.pickle", lib / "global_ccs_LR_0_MR_0.pickle"]
    if cold:
        for p in caches:
            p.unlink(missing_ok=True)
    present = [p.exists() for p in caches]
    from fitsnap3lib.lib.sym_ACE.rpi_lib import descriptor_labels_YSG
    from fitsnap3lib.lib.sym_ACE.yamlpace_tools.potential import AcePot

    t1 = time.perf_counter()
    types = ["C", "H", "O"]
    ranks, nmax, lmax = [1, 2, 3], [8, 6, 4], [0, 6, 4]
    labels = [
        descriptor_labels_YSG(r, nmax[k], lmax[k], len(types), lmin=0) for k, r in enumerate(ranks)
    ]
    t2 = time.perf_counter()
    nb = len(types) ** 2
    pot = AcePot(types, [0.0] * 3, ranks, nmax, lmax, 16, ["5.0"] * nb, ["1.35"] * nb,
                 ["0.0"] * nb, ["0.01"] * nb, [0, 0, 0], "root_SO3_span")  # fmt: skip
    t3 = time.perf_counter()
    from importlib.metadata import version

    print(
        json.dumps(
            {
                "cold": cold,
                "caches_present_at_start": present,
                "import_s": t1 - t0,
                "labels_s": t2 - t1,
                "acepot_s": t3 - t2,
                "seconds": t3 - t0,
                "n_labels": [len(x) for x in labels],
                "n_functions": sum(len(v) for v in pot.funcs.values()),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "fitsnap3": version("fitsnap3"),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
