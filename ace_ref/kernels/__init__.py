r"""Stage 3 — Numba kernels: pairs → φ → ``A`` → products ``AA`` → ``B`` and their derivatives.

* :mod:`~ace_ref.kernels.features` — ``A_{i,znlm} = Σ_j φ_{znlm}(r_ij)``, ``B = C·AA``,
  ``∂B/∂r_ij`` on the fixed sparsity pattern of the coupling, design rows;
* :mod:`~ace_ref.kernels.product_tree` — prefix tree of the product basis (shared prefixes
  multiplied once);
* :mod:`~ace_ref.kernels.predict` — energy, forces and virial for fixed coefficients by one
  adjoint sweep of that tree (``c̃ = Cᵀc`` contracted once);
* :mod:`~ace_ref.kernels.simd` — fixed-width row operations emitted as vector instructions;
* :mod:`~ace_ref.kernels.two_layer` — the layer-2 loops of the multi-ACE basis.

Paper: Eq. (8) (atomic base) and Eqs. (9)–(10) (products, coupling) of arXiv:2205.06643, and the
cost model of DESIGN §3. The kernels know only arrays; specifications live in :mod:`ace_ref.basis`.
"""
