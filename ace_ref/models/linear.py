"""Fitted linear ACE model: prediction, plain-data files, ASE calculator.

``E = Σ_i [E0(z_i) + Σ_k c_{z_i,k} B_{i,k}]``. Prediction contracts the coefficients into
the product basis once (``c̃ = Cᵀc``) and gets forces and stress by one adjoint sweep
(:func:`ace_ref.kernels.predict.energy_forces`).

File format (version :data:`FORMAT_VERSION`): a directory-free single ``.npz`` written with
``allow_pickle=False`` holding ``coefficients`` (float64) and ``header`` (a JSON string with
the format name and version, basis specification, E0s, fit metadata and the SHA-256 of the
coefficients). Version 2 adds, optionally, the model's
:class:`~ace_ref.models.uncertainty.Uncertainty`: coverage in the header, the committee and
the active sets as further arrays under one more SHA-256 (version 1 files still load). Written
to a temporary file and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from ace_ref.basis.ace import ACEBasis
from ace_ref.kernels import features, predict
from ace_ref.kernels.product_tree import build_product_tree
from ace_ref.models.base import FittedModel
from ace_ref.models.core import RepulsiveCore
from ace_ref.models.uncertainty import Uncertainty
from ace_ref.models.yace import export_yace

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "LinearACEModel"]


FORMAT_NAME = "ace_ref.LinearACEModel"


FORMAT_VERSION = 3
"""1: coefficients and header; 2: + uncertainty arrays (``arrays_sha256``); 3: + ``header_sha256``
over the whole header (E0, basis, core, metadata). Older versions are still read."""


class LinearACEModel(FittedModel):
    """A basis, one coefficient per basis column, and isolated-atom energies ``E0``."""

    FORMAT_NAME = FORMAT_NAME
    FORMAT_VERSION = FORMAT_VERSION

    def __init__(
        self,
        basis: ACEBasis,
        coefficients,
        e0: dict[str, float] | None = None,
        metadata: dict | None = None,
        uncertainty: Uncertainty | None = None,
        core: RepulsiveCore | None = None,
    ) -> None:
        super().__init__(basis, coefficients, e0, metadata, uncertainty, core)
        t = basis.tables(0)
        K = t.n_functions
        ns = len(basis.elements)
        # c̃_z = Cᵀ c_z: c̃[z, v] = Σ_k c[z, k] C[k, v]
        Ct = t.coupling_matrix.T
        c = basis.packed_coefficients(self.coefficients)  # zeros outside per-element budgets
        self._ctilde = np.stack([Ct @ c[z * K : (z + 1) * K] for z in range(ns)])
        self._tree = build_product_tree(t.product_index, t.product_order, self._ctilde)
        self._n_lm_of_n = predict.lm_limits(self._tree, basis.n_max, basis.l_max)
        # the fused kernel evaluates the built-in radials times Y_lm itself; user-supplied
        # radials (ace_ref.one_particle.pair_radials) and the pointwise products of a purified
        # basis come from the basis instead (predict.energy_forces_from_base, same tree)
        on_pair_radials = getattr(basis, "pair_radials", None) is not None
        from_base = on_pair_radials or getattr(basis, "purify", False)
        self._radial_params = None if from_base else basis.radial_parameters()

    # ------------------------------------------------------------------ prediction
    def predict(self, atoms: Atoms, where: str = "structure") -> dict:
        """Energy (eV), forces (eV/Å), per-atom energies and, if periodic, stress (eV/Å³).

        Stress follows ASE: ``σ = (1/V) ∂E/∂ε`` (3 × 3).
        """
        b = self.basis
        pairs = b.pairs(atoms, where)
        species, i, j, D, offsets, pair_type = pairs
        if self._radial_params is None:
            E_atom, forces, virial = self._predict_from_base(pairs)
        else:
            E_atom, forces, virial = self._predict_by_tree(pairs)
        e0 = np.array([self.e0[el] for el in b.elements])[species]
        E_atom = E_atom + e0
        if self.core is not None:
            E_core, F_core, W_core = self.core.energy_forces(pairs, len(atoms))
            E_atom, forces, virial = E_atom + E_core, forces + F_core, virial + W_core
        out = {"energy": float(E_atom.sum()), "energies": E_atom, "forces": forces}
        if np.all(atoms.pbc):
            out["stress"] = 0.5 * (virial + virial.T) / atoms.get_volume()
        return out

    def _predict_by_tree(self, pairs):
        b = self.basis
        species, i, j, D, offsets, pair_type = pairs
        return predict.energy_forces(
            offsets, species, i, j, D, pair_type, self._radial_params, b.n_max, b.l_max,
            len(b.elements), self._tree, self._n_lm_of_n,
        )  # fmt: skip

    def _predict_from_base(self, pairs):
        """The tree sweeps on ``A`` and ``∇φ`` evaluated by the basis (not in the kernel)."""
        b = self.basis
        species, i, j, D, offsets, pair_type = pairs
        phi, dphi = b.pair_basis(D, pair_type, extended=False)
        extra = getattr(b, "extra_slots", None)
        purified = extra is not None and len(extra)
        phi_all = features.extend_pair_values(phi, extra) if purified else phi
        slot = b.neighbour_slot(species[j])
        A = features.atomic_base(offsets, slot, phi_all, b.n_neighbour_slots, b.n_slot)
        return predict.energy_forces_from_base(
            A, phi, dphi, offsets, species, i, j, slot, D, self._tree, extra
        )

    # ------------------------------------------------------------------ files
    def export_yace(
        self, path: str | Path, report=print, type_elements=None, evaluator: str = "recursive"
    ):
        """Write the model as an ML-PACE ``.yace`` file for LAMMPS ``pair_style pace``.

        Exact for models on the ``"ace1"`` radial basis; anything without a ``.yace``
        equivalent raises :class:`ace_ref.models.yace.YaceExportError`. See
        :func:`ace_ref.models.yace.export_yace` (returns a :class:`ace_ref.models.yace.YaceExport`
        with the
        size and the ``pair_style``/``pair_coeff`` lines).
        """
        return export_yace(
            self, path, report=report, type_elements=type_elements, evaluator=evaluator
        )
