"""Force error of a fitted model per element (which central element carries the error).

Prints, per element, the force RMSE on a test set, its share of the total squared force
error and the RMS of the reference forces.

Run: ``python benchmarks/per_element_errors.py MODEL.npz [--data FILE.xyz] [--stride 5]``
(default data: the packaged acac test_MD_300K, every 5th configuration).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import ace_ref
from ace_ref.fit.data import read_configs
from ace_ref.models.load import load

TEST = Path(ace_ref.__file__).parent / "example_data" / "acac" / "test_MD_300K.xyz"


def main(model_path: str, data: str, stride: int) -> dict[str, dict[str, float]]:
    model = load(model_path)
    configs = read_configs(data)[::stride]
    errors: dict[str, list[np.ndarray]] = {}
    reference: dict[str, list[np.ndarray]] = {}
    for c in configs:
        delta = model.predict(c.atoms)["forces"] - c.forces
        for el, d, f in zip(c.atoms.get_chemical_symbols(), delta, c.forces, strict=True):
            errors.setdefault(el, []).append(d)
            reference.setdefault(el, []).append(f)
    total = sum(float(np.sum(np.square(v))) for v in errors.values())
    out = {}
    for el in errors:
        e, f = np.array(errors[el]), np.array(reference[el])
        out[el] = {
            "atoms": len(e),
            "force_rmse_meV_per_A": 1e3 * float(np.sqrt(np.mean(e**2))),
            "share_of_squared_error": float(np.sum(e**2)) / total,
            "reference_rms_meV_per_A": 1e3 * float(np.sqrt(np.mean(f**2))),
        }
        print(el, out[el])
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--data", default=str(TEST))
    p.add_argument("--stride", type=int, default=5)
    a = p.parse_args()
    main(a.model, a.data, a.stride)
