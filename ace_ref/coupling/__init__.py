r"""Stage 2 — coupling: the exact coefficients ``C`` of ``B_k = Σ_v C_{kv} Π_t A_{v_t}``.

* :mod:`~ace_ref.coupling.clebsch_gordan` — ``⟨l1 m1 l2 m2 | L M⟩`` exactly (SymPy);
* :mod:`~ace_ref.coupling.symmetric` — the generalized coupling ``((l1 l2)L12 l3)L123 … → L``
  symmetrised over permutations of identical factors, reduced to a linearly independent set whose
  size is checked against the O(3) character (Molien) formula (:func:`o3_multiplicity`);
* :mod:`~ace_ref.coupling.chain` — the NequIP/BOTNet chain tree ``h^(ν) = [A ⊗ h^(ν−1)]_L`` with
  hidden-``L`` caps and tied channels (the sparsifications of arXiv:2205.06643, Sec. 5);
* :mod:`~ace_ref.coupling.cache` — blocks cached on disk, content-addressed and verified;
* :mod:`~ace_ref.coupling.multisets` — sorted tuples under exact degree budgets
  ``Σ_t (n_t + w_L l_t) ≤ D_ν`` (the ν-correlations of the product basis);
* :mod:`~ace_ref.coupling.rotations` — random O(3) elements and real Wigner D matrices.

Paper: Eqs. (9)–(12) of arXiv:2205.06643 (product basis, coupled basis, symmetrisation).
"""

from ace_ref.coupling.cache import (
    CACHE_FORMAT_VERSION,
    CouplingCache,
    coupled_block,
    default_cache_dir,
)
from ace_ref.coupling.chain import CHANNELS, COUPLINGS, ChainBlock, chain_block
from ace_ref.coupling.clebsch_gordan import cg_tensor, clebsch_gordan
from ace_ref.coupling.multisets import (
    bounded_multisets,
    count_bounded_multisets,
    sample_bounded_multisets,
)
from ace_ref.coupling.rotations import random_o3, random_rotation, wigner_d_real
from ace_ref.coupling.symmetric import (
    RANK_RTOL,
    ZERO_RTOL,
    CoupledBlock,
    coupling_paths,
    o3_multiplicity,
    symmetric_power_weights,
)

__all__ = [
    "CACHE_FORMAT_VERSION",
    "CHANNELS",
    "COUPLINGS",
    "ChainBlock",
    "CoupledBlock",
    "CouplingCache",
    "RANK_RTOL",
    "ZERO_RTOL",
    "bounded_multisets",
    "cg_tensor",
    "chain_block",
    "clebsch_gordan",
    "count_bounded_multisets",
    "coupled_block",
    "coupling_paths",
    "default_cache_dir",
    "o3_multiplicity",
    "random_o3",
    "random_rotation",
    "sample_bounded_multisets",
    "symmetric_power_weights",
    "wigner_d_real",
]
