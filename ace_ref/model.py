"""Fitted linear ACE model: prediction, plain-data files, ASE calculator.

``E = Σ_i [E0(z_i) + Σ_k c_{z_i,k} B_{i,k}]``. Prediction contracts the coefficients into
the product basis once (``c̃ = Cᵀc``) and gets forces and stress by one adjoint sweep
(:func:`ace_ref.predict.energy_forces`).

File format (version :data:`FORMAT_VERSION`): a directory-free single ``.npz`` written with
``allow_pickle=False`` holding ``coefficients`` (float64) and ``header`` (a JSON string with
the format name and version, basis specification, E0s, fit metadata and the SHA-256 of the
coefficients). Written to a temporary file and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from ace_ref import predict
from ace_ref.atomic import atomic_path
from ace_ref.basis import ACEBasis
from ace_ref.product_tree import build_product_tree

__all__ = ["LinearACEModel", "ACECalculator", "load", "FORMAT_VERSION", "ModelFileError"]

FORMAT_NAME = "ace_ref.LinearACEModel"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file that is missing, truncated, tampered with or of an unknown version."""


class LinearACEModel:
    """A basis, one coefficient per basis column, and isolated-atom energies ``E0``."""

    def __init__(
        self,
        basis: ACEBasis,
        coefficients,
        e0: dict[str, float] | None = None,
        metadata: dict | None = None,
    ) -> None:
        c = np.asarray(coefficients, dtype=float)
        if c.shape != (len(basis),):
            raise ValueError(f"expected {len(basis)} coefficients, got shape {c.shape}")
        if not np.all(np.isfinite(c)):
            raise ValueError("coefficients contain NaN or inf")
        self.basis = basis
        self.coefficients = c
        e0 = dict(e0 or {})
        self.e0 = {el: float(e0.get(el, 0.0)) for el in basis.elements}
        self.metadata = dict(metadata or {})
        t = basis.tables(0)
        K = t.n_functions
        ns = len(basis.elements)
        # c̃[z, v] = Σ_k c[z, k] C[k, v]
        rows = np.repeat(np.arange(K), np.diff(t.c_indptr))
        self._ctilde = np.zeros((ns, t.n_products))
        for z in range(ns):
            np.add.at(self._ctilde[z], t.c_indices, c[z * K + rows] * t.c_data)
        self._tree = build_product_tree(t.product_index, t.product_order, self._ctilde)
        self._n_lm_of_n = predict.lm_limits(self._tree, basis.n_max, basis.l_max)
        self._radial_params = basis._radial_params()

    # ------------------------------------------------------------------ prediction
    def predict(self, atoms: Atoms, where: str = "structure") -> dict:
        """Energy (eV), forces (eV/Å), per-atom energies and, if periodic, stress (eV/Å³).

        Stress follows ASE: ``σ = (1/V) ∂E/∂ε`` (3 × 3).
        """
        b = self.basis
        species, i, j, D, offsets, pair_type = b._prepare(atoms, where)
        E_atom, forces, virial = predict.energy_forces(
            offsets,
            species,
            i,
            j,
            D,
            pair_type,
            self._radial_params,
            b.n_max,
            b.l_max,
            len(b.elements),
            self._tree,
            self._n_lm_of_n,
        )
        e0 = np.array([self.e0[el] for el in b.elements])[species]
        E_atom = E_atom + e0
        out = {"energy": float(E_atom.sum()), "energies": E_atom, "forces": forces}
        if np.all(atoms.pbc):
            out["stress"] = 0.5 * (virial + virial.T) / atoms.get_volume()
        return out

    def calculator(self) -> ACECalculator:
        """An ASE calculator for this model."""
        return ACECalculator(self)

    # ------------------------------------------------------------------ files
    def export_yace(
        self, path: str | Path, report=print, type_elements=None, evaluator: str = "recursive"
    ):
        """Write the model as an ML-PACE ``.yace`` file for LAMMPS ``pair_style pace``.

        Exact for models on the ``"ace1"`` radial basis; anything without a ``.yace``
        equivalent raises :class:`ace_ref.yace.YaceExportError`. See
        :func:`ace_ref.yace.export_yace` (returns a :class:`ace_ref.yace.YaceExport` with the
        size and the ``pair_style``/``pair_coeff`` lines).
        """
        from ace_ref.yace import export_yace

        return export_yace(
            self, path, report=report, type_elements=type_elements, evaluator=evaluator
        )

    def save(self, path: str | Path) -> Path:
        """Write the model atomically (see module docstring); returns the path."""
        return write_model_file(path, FORMAT_NAME, FORMAT_VERSION, self)


def write_model_file(path: str | Path, format_name: str, version: int, model) -> Path:
    """Write ``model`` (``basis``, ``coefficients``, ``e0``, ``metadata``) as the ``.npz`` of
    the module docstring under ``format_name``/``version``, atomically; returns the path."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    header = {
        "format": format_name,
        "version": version,
        "basis": model.basis.to_dict(),
        "e0": model.e0,
        "metadata": model.metadata,
        "coefficients_sha256": hashlib.sha256(model.coefficients.tobytes()).hexdigest(),
        "basis_fingerprint": model.basis.fingerprint(),
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            header=np.array(json.dumps(header, sort_keys=True)),
            coefficients=model.coefficients,
        )
    return path


def read_model_file(path: str | Path) -> tuple[Path, dict, np.ndarray]:
    """``(path, header, coefficients)`` of a model file; unreadable → ModelFileError."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            header = json.loads(str(f["header"]))
            coefficients = np.array(f["coefficients"])
    except Exception as exc:  # noqa: BLE001 - anything unreadable is a corrupt file
        raise ModelFileError(f"{path}: not a readable ace_ref model file ({exc})") from exc
    return path, header, coefficients


def model_from_parts(
    path: Path,
    header: dict,
    coefficients: np.ndarray,
    *,
    format_name: str,
    version: int,
    basis_class,
    model_class,
    cache_dir="default",
):
    """Check a file's header and coefficients (format, version, dtype, checksum, basis
    fingerprint) and build ``model_class`` on ``basis_class``; any defect → ModelFileError."""
    if header.get("format") != format_name:
        raise ModelFileError(f"{path}: not an {format_name} file (format {header.get('format')!r})")
    if header.get("version") != version:
        raise ModelFileError(
            f"{path}: model format version {header.get('version')} is not "
            f"supported (this ace_ref reads version {version})"
        )
    if coefficients.dtype != np.float64 or coefficients.ndim != 1:
        raise ModelFileError(f"{path}: coefficients must be a 1-d float64 array")
    if hashlib.sha256(coefficients.tobytes()).hexdigest() != header.get("coefficients_sha256"):
        raise ModelFileError(f"{path}: coefficients do not match their checksum (file altered)")
    try:
        basis = basis_class.from_dict(header["basis"], cache_dir=cache_dir)
        model = model_class(basis, coefficients, header["e0"], header.get("metadata"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid model header ({exc})") from exc
    if header.get("basis_fingerprint") != basis.fingerprint():
        raise ModelFileError(
            f"{path}: the basis this ace_ref builds from the stored specification differs from "
            "the one the coefficients were fitted with (basis fingerprint mismatch)"
        )
    return model


def load(path: str | Path, cache_dir="default") -> LinearACEModel:
    """Read a model written by :meth:`LinearACEModel.save` (or a
    :class:`ace_ref.multilayer.TwoLayerModel`); any defect raises ModelFileError."""
    path, header, coefficients = read_model_file(path)
    if header.get("format") == "ace_ref.TwoLayerModel":
        from ace_ref.multilayer import _from_parts

        return _from_parts(path, header, coefficients, cache_dir)
    return model_from_parts(
        path,
        header,
        coefficients,
        format_name=FORMAT_NAME,
        version=FORMAT_VERSION,
        basis_class=ACEBasis,
        model_class=LinearACEModel,
        cache_dir=cache_dir,
    )


class ACECalculator(Calculator):
    """ASE calculator: energy, free_energy, energies, forces and (periodic) stress."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model: LinearACEModel, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = model

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        out = self.model.predict(self.atoms)
        self.results = {
            "energy": out["energy"],
            "free_energy": out["energy"],
            "energies": out["energies"],
            "forces": out["forces"],
        }
        if "stress" in out:
            s = out["stress"]
            self.results["stress"] = np.array(
                [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]
            )
        elif "stress" in properties:
            from ase.calculators.calculator import PropertyNotImplementedError

            raise PropertyNotImplementedError("stress needs a fully periodic structure")
