"""Purified against plain basis on acetylacetone: accuracy, extrapolation, holes, speed.

Fits the quick-start model (``ace-ref fit --example acac``) twice, without and with
``--purify``, with every other option at its default (the same degrees, pool and greedy
selection). Then, for each model:

* errors on the packaged ``test_MD_300K`` set and, if ``../shared/data`` is there, on the
  held-out hotter ``train_600K`` set;
* the probe (torsion, stretch and displacement scans) of the first training configuration,
  and the holes it finds;
* prediction time per 15-atom structure (energy and forces, mean over 50 test frames, one
  warm-up call first).

Run (from the repository root; about 5 minutes on the 2-core VM)::

    python benchmarks/purification.py --json benchmarks/acac_purification.json

``--select K …`` fits each of these sizes instead of the default selection (``ace-ref fit
--select K``, the same pool), for an error-against-size curve of both bases.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ase.io import read

from ace_ref.fit.data import read_configs
from ace_ref.fit.errors import compute_errors
from ace_ref.models.load import load
from ace_ref.verify.probe import probe

PACKAGED = Path(__file__).resolve().parents[1] / "ace_ref" / "example_data" / "acac"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "acac"


def _fit(out: Path, purify: bool, select: int | None) -> float:
    argv = [sys.executable, "-m", "ace_ref.cli", "fit", "--example", "acac"]
    argv += ["-o", str(out)] + (["--purify"] if purify else [])
    argv += [] if select is None else ["--select", str(select)]
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _errors(model, path: Path) -> dict:
    row = compute_errors(model, read_configs(path), "all").sets()["all"]
    return {key: row[key] for key in ("energy_rmse_meV", "forces_rmse_meV_per_A")}


def main(out: str | None, sizes: list[int | None]) -> None:
    test = PACKAGED / "test_MD_300K.xyz"
    frames = read(test, ":50")
    start = read(PACKAGED / "train_300K.xyz", 0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for select, purify in ((k, p) for k in sizes for p in (False, True)):
            name = ("purified" if purify else "plain") + ("" if select is None else f"_{select}")
            path = Path(tmp) / f"{name}.npz"
            seconds = _fit(path, purify, select)
            model = load(path)
            entry = {
                "fit_seconds": seconds,
                "n_coefficients": len(model.basis),
                "extra_slots": len(getattr(model.basis, "extra_slots", [])),
                "test_MD_300K": _errors(model, test),
            }
            if (SHARED / "train_600K.xyz").exists():
                entry["train_600K"] = _errors(model, SHARED / "train_600K.xyz")
            report = probe(model.calculator(), start)
            entry["probe_holes"] = [
                {"scan": s.label, "min_eV": float(s.min_energy), "at": float(s.at_min)}
                for s in report.holes
            ]
            entry["probe_worst_eV"] = float(min(s.min_energy for s in report.scans))
            model.predict(frames[0])
            t0 = time.perf_counter()
            for atoms in frames:
                model.predict(atoms)
            entry["predict_ms_per_structure"] = 1e3 * (time.perf_counter() - t0) / len(frames)
            print(name, json.dumps(entry), flush=True)
            results[name] = entry
    if out:
        Path(out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the numbers here")
    p.add_argument("--select", type=int, nargs="+", help="sizes to fit (default: ace-ref fit's)")
    a = p.parse_args()
    main(a.json, a.select or [None])
