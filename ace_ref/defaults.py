"""Every default of ace_ref in one place.

Changing a default here changes it for the Python API and the ``ace-ref`` command alike.
"""

from __future__ import annotations

from fractions import Fraction

# ---------------------------------------------------------------------------------- basis
ORDER = 3
"""Correlation order ν of the ``ace-ref fit`` default basis (body order 4)."""

MAX_DEGREE = (12, 12, Fraction(46, 5))
"""Total-degree bound ``D_ν`` per order of the default basis (with :data:`W_L`: K = 11469 for
H/C/O, 11046 with the per-element budgets :data:`ELEMENT_DEGREE_SCALE`). Chosen on
acetylacetone (train_300K → test_MD_300K; BENCHMARKS.md, "Acetylacetone accuracy"): at a
fixed number of coefficients a small ``w_L`` (more angular resolution per radial function)
gives the lowest errors."""

ELEMENT_DEGREE_SCALE = {"H": Fraction(4, 5), "C": Fraction(11, 10)}
"""Per-element degree budgets of the ``ace-ref fit`` default basis (elements not named: 1):
a central H keeps the functions of degree ≤ 0.8 D_ν, a central C those ≤ 1.1 D_ν
(``ACEBasis(element_degree_scale=...)``). Applied where the degrees are chosen from the data
(:func:`ace_ref.fit.presets.choose_degree_for_data`). Chosen on acetylacetone and checked on
3BPA (BENCHMARKS.md, "Per-element degree budgets"): on acac 4 % fewer coefficients with lower
errors at 300 K and 600 K; on 3BPA fold 0 the force error falls from 39.4 to 32.8 meV/Å at
5 % more coefficients."""

R_CUT = 4.5
"""Cutoff radius (Å)."""

RADIAL = "bessel"
"""Radial basis: ``"bessel"`` (NequIP Bessel × polynomial envelope), ``"polynomial"``,
``"ace1"`` or ``"sbessel"``; every one exports to LAMMPS ``pair_style pace``
(docs/guide/lammps.md)."""

ENVELOPE_P = 6
"""Exponent of the NequIP polynomial envelope."""

W_L = Fraction(3, 5)
"""Weight of ``l`` in the total degree ``Σ_t (n_t + w_L l_t)`` (exact rational)."""

PRESETS = {"fast": Fraction(4, 5), "default": Fraction(1), "accurate": Fraction(11, 10)}
"""``ace-ref fit --preset``: the factor on :data:`MAX_DEGREE` before the data and memory
budgets apply (for H/C/O with the per-element budgets: 3568, 11046 and 17675 coefficients;
without them 3681, 11469 and 17988). ``accurate`` also ranks the pool on every training row
where ``--ranking-rows auto`` would cap the rows (:data:`RANKING_GRAM_FLOPS`). On a 3BPA fold
the data bound the pool to about the default's 32 070 functions either way, and ranking them
on every row gives 8.24 meV / 28.03 meV/Å in 5-fold CV against 8.78 / 29.11 with the cap, at
about twice the time (BENCHMARKS.md, "With greedy selection from a larger pool")."""

ROWS_PER_COEFFICIENT = 2
"""Data budget of the default basis: at most one coefficient per this many weighted rows
(the acetylacetone default, 11046 coefficients on 23000 rows, sits just below it)."""

ROWS_PER_SELECTED_FUNCTION = 4
"""Greedy selection where ``ace-ref fit`` chooses the basis from the data: keep one function
of the pool per this many weighted rows (:func:`ace_ref.fit.presets.choose_selection`). On 3BPA
fold 0 (32 800 rows, pool 32 070) 8000 chosen functions give 7.17 meV / 27.4 meV/Å and 5000
give 8.38 / 28.1; on acetylacetone (23 000 rows, pool 11 046) 5000 give 1.88 / 10.94 and 3500
give 1.98 / 11.35 (BENCHMARKS.md, "Greedy function selection")."""

ROWS_PER_POOL_FUNCTION = 1
"""Data budget of the pool when greedy selection follows: at most one function per weighted
row (:data:`ROWS_PER_COEFFICIENT` applies to a basis fitted whole). The pool only needs its
Gram summary (``n_rows K²`` flops, ``8 K²`` bytes); on 3BPA a pool of 32 070 instead of 16 266
lowers fold 0 at 5000 chosen functions from 9.30 / 33.7 to 8.38 / 28.1."""

RANKING_GRAM_FLOPS = 1.2e13
"""Cost cap of the pool's Gram summary for the greedy ranking where ``ace-ref fit`` resolves
``--ranking-rows auto``: at most ``RANKING_GRAM_FLOPS / K²`` rows of a pool of ``K``
(configurations drawn at random; :func:`ace_ref.fit.presets.choose_ranking_rows`), about
5 minutes at 38 GFLOP/s. The fit proper always uses every row. Acetylacetone (23 000 rows,
pool 11 046: 2.8e12 flops) ranks on all its rows; a 3BPA fold (32 800 rows, pool 32 070)
on at most 11 667 of them. On 3BPA this halves the fit and costs 6.5 % in energy and 3.8 % in
forces (5-fold CV 8.78 / 29.11 against 8.24 / 28.03 ranking on every row; BENCHMARKS.md); the
default 3BPA fit on all 500 configurations then plans about 20 minutes at 38 GFLOP/s instead
of about 33 (19.7 with the ranking at its measured efficiency, ``cost.RANKING_EFFICIENCY``)."""

SELECT_KEEP_ORDERS = (1,)
"""Correlation orders whose functions greedy selection keeps whatever their score (before the
greedy picks): every pair function, so that the chosen basis describes the two-body part
(bond stretching, dissociation, short range) completely. Without them 3 of 10 Langevin runs
of the acetylacetone quick start at 600 K broke (BENCHMARKS.md, "Greedy function
selection")."""

SELECTION_RIDGE_COLUMNS = 3000
"""The ridge of the greedy ranking is the BLR ``λ`` of at most this many of the columns the
prior favours (:func:`ace_ref.fit.selection.selection_ridge`; a Gram solve of ``9 n³``
flops). On acetylacetone the choice is flat for ``λ`` within a factor 10 of the optimum."""

SELECTION_BLOCK = 256
"""Greedy selection (:func:`ace_ref.fit.selection.greedy_columns`) applies this many rank-one
updates of the Schur complement at a time, as one symmetric matrix product on its lower
triangle; the picks do not depend on it. On a random Gram matrix of ``K`` columns ranked to a
third (idle 2-core VM, 2026-12-07; BENCHMARKS.md, "The ranking's block"): ``K`` = 32 070
(a 3BPA pool) 136.5 s with 32 and 95.7 s with 256; ``K`` = 20 000 39.7, 36.8, 28.9 and 26.9 s
with 32, 64, 128 and 256; ``K`` = 11 046 (the acetylacetone pool) 5.5, 10.2, 7.5 and 6.1 s. The
larger block pays where the ranking is long; on the acetylacetone pool it costs 0.6 s."""

SELECT_POOL_FRACTION = Fraction(1, 3)
"""…and at most this share of the pool. On both acetylacetone and 3BPA the chosen third of the
pool fits as well as all of it (BENCHMARKS.md, "Greedy function selection"); on acetylacetone
more functions fit 300 K slightly better and extrapolate to 600 K worse (5750 of 11 046:
300 K 1.87 / 10.74, 600 K 10.1 / 34.3; 3538: 1.96 / 11.23 and 7.37 / 31.4)."""

MEMORY_FRACTION = Fraction(1, 2)
"""Memory budget of the default basis: its estimated peak at most this share of what the
system has free."""

MAX_OUTPUT_L = 2
"""Largest output ``L`` of equivariant features ``basis.features(atoms, L)`` a basis is sized
for: it sets how far the spherical harmonics go (see ``ACEBasis.l_max``)."""

MAX_FUNCTIONS = 250_000
"""Refuse to build a basis with more linear coefficients than this (say how many first)."""

POLYNOMIAL_R0_FRACTION = 0.5
"""For the polynomial radial basis without an explicit ``r_0``: ``r_0 = fraction × r_cut``."""

POLYNOMIAL_Q = 2
"""Exponent of the ``((1 + r_0)/(1 + r))^q`` distance transform."""

ACE1_R_IN_FRACTION = 0.4
"""For the ``"ace1"`` radial basis without an explicit ``r_in``: ``r_in = fraction × r_cut``.

``u`` runs from 1 at ``r_in`` to 0 at ``r_cut``. ``r_in`` does not change the functions' span
(for ``envelope_p_in = 0``), only the conditioning of the fit: with ``r_in = 0`` the occupied
distances (≳ 1 Å) squeeze into small ``u`` (Ta, order 4, q = 2: fitted coefficients ~1e13
with r_in = 0, ~5e3 with 0.4 r_cut)."""

ASSEMBLY_ROWS_PER_COLUMN = 8
"""Assembly partitions hold about this many rows per basis function (``8 (K+1)``), so a
partition's summary (``K²`` numbers) is small beside its rows (see ace_ref.fit.reduction)."""

ASSEMBLY_MIN_PARTITIONS = 4
"""At least this many assembly partitions (parallel work for threads and Dask workers on small
data sets), as long as each keeps at least ``max(K + 1, 2048)`` rows."""

RIGID_MOTION_RANK_TOLERANCE = 1e-6
"""Assembly drops the force rows along a configuration's rigid motions
(:mod:`ace_ref.fit.rigid_motions`); a direction counts only where its singular value is at
least this share of the largest (the rotations of a collinear or single atom do not)."""

RIGID_MOTION_ROW_TOLERANCE = 1e-9
"""…and only where the rows it would drop are below this share of the largest force-row
entry (rounding of an invariant model: about 1e-15); otherwise every row is kept."""

# ---------------------------------------------------------------------------------- fit
SOLVER = "blr"
"""Solver of :func:`ace_ref.fit.fit`: Bayesian linear regression (evidence-optimal α, β)."""

WEIGHTS = "energy=30,forces=1,virial=1"
"""Observable weights (:meth:`ace_ref.fit.assembly.Weights.parse` syntax); energies are per
atom, so 30 balances meV/atom against meV/Å for small molecules. Checked against 100, 300 and
1000 (BENCHMARKS.md, "Weighting the energies more"): on acac and ethanol every larger weight
raises the held-out force error (acac 11.34 → 12.59 meV/Å at 1000) without lowering the energy
error; on 3BPA 1000 lowers the 5-fold CV energy error by 3 % (8.78 → 8.54 meV) and raises the
force error by 1.3 %."""

ORDER_WEIGHTS = (30.0, 3.0, 1.0)
"""Prior weight per correlation order ``ν = 1, 2, 3, …`` (the last entry for higher orders):
``Γ_kk = w_ν (1 + deg_k)^p``. Pair functions 30 and three-body functions 3 times as costly as
four-body ones of the same degree. Chosen on acetylacetone (BENCHMARKS.md, "Beyond RMSE",
per-order prior weights): against equal weights it lowers train_600K from 15.6 / 39.2 to
11.2 / 34.5 meV, meV/Å, removes the hole in the enol-H torsion and keeps 10 of 10 Langevin
runs at 600 K physical (5 of 10 before), at 300 K 2.146 / 11.40 (was 2.18 / 11.55). On 3BPA
(fold 0) and ethanol, which did not choose it, the held-out errors move by < 3 %. Weighting
the *higher* orders instead (1, 10, 100) gives 73 meV at 600 K."""

SMOOTHNESS = 2.0
"""Exponent ``p`` of the smoothness prior ``Γ_kk = (1 + deg_k)^p`` (0: off)."""

LAMBDA = 1e-3
"""Regularisation λ of the ``ridge`` and ``lsqr`` solvers."""

ASSEMBLY = "qr"
"""Assembly summary: ``"qr"`` (streamed QR, keeps the conditioning) or ``"normal"`` (Gram)."""

TSVD_VALIDATION_FRACTION = Fraction(1, 10)
"""Share of the training configurations held out to choose the ``tsvd`` truncation."""

SEED = 0
"""Seed of every random choice of a fit (validation split, posterior committee)."""

ENERGY_KEY = "energy"
"""extxyz ``info`` key of the total energy (eV)."""

FORCES_KEY = "forces"
"""extxyz per-atom array of the forces (eV/Å)."""

STRESS_KEY = "stress"
"""extxyz ``info`` key of the stress (6 Voigt or 9 components, ``STRESS_UNIT``)."""

VIRIAL_KEY = "virial"
"""extxyz ``info`` key of the virial ``W = −V σ`` (eV), read where a configuration has no
stress (the GAP/MACE convention)."""

STRESS_UNIT = "eV/A3"
"""Unit of stresses in data files (``eV/A3``, ``GPa``, ``bar``, ``kbar``)."""

STRESS_CONVENTION = "ase"
"""Sign of stresses in data files: ``"ase"`` (σ) or ``"pressure"`` (P = −σ, LAMMPS/FitSNAP)."""

# ---------------------------------------------------------------------------------- two-layer basis
L2_LMAX = 1
"""Largest ``L`` of the layer-1 channels and of ``A²`` (two-layer basis)."""

L2_MAX_N = 4
"""Layer-2 radial functions (two-layer basis)."""

L2_ORDER = 1
"""Correlation order ν₂ of layer 2 (two-layer basis)."""

# ---------------------------------------------------------------------------------- uncertainty
COMMITTEE_SIZE = 32
"""Posterior samples of the coefficients a BLR fit stores for the committee spread (0: none)."""

ACTIVE_SET_SIZE = 256
"""At most this many basis functions (and active environments) per element for the
extrapolation grade γ (:class:`ace_ref.models.uncertainty.ActiveSet`)."""

EXTRAPOLATION_GRADE_WARN = 2.0
"""γ above this is reported as extrapolation (pacemaker's practice: trust γ < 2)."""

PROBE_MARGIN = 0.5
"""eV below the starting energy at which a probe scan reports a hole."""

CORE = "zbl"
"""Fixed repulsive core of a fit (:class:`ace_ref.models.core.RepulsiveCore`): ``"zbl"`` or
``None``. It is zero on every training configuration, so it never changes the coefficients."""

CORE_INNER = 0.5
"""The core is full ZBL below this fraction of the shortest training distance of a pair…"""

CORE_OUTER = 0.75
"""…and switched off (C²) above this fraction of it, well below thermal fluctuations."""

DATA_CUTOFF_MARGIN = 0.35
"""Å beyond the largest training distance of a species pair at which ``ace-ref fit`` cuts
that pair off when that is shorter than ``R_CUT``
(:func:`ace_ref.fit.data.pair_cutoffs_from_data`)."""

PAIR_CUTOFFS = "data"
"""``ace-ref fit``: ``"data"`` cuts each species pair off just beyond its largest training
distance when that is below ``R_CUT`` (:func:`ace_ref.fit.data.pair_cutoffs_from_data`);
``"fixed"`` uses ``R_CUT`` for every pair. Chosen on acetylacetone (BENCHMARKS.md, "Beyond
RMSE"): 600 K errors 15.6 meV / 39.2 meV/Å instead of 27.5 / 57.3, three of four probe holes
gone, 300 K test errors 2.18 / 11.55 instead of 2.13 / 11.46."""

DATA_CUTOFF_MAX_GAP = None
"""``max_gap`` of :func:`ace_ref.fit.data.pair_cutoffs_from_data` for ``ace-ref fit``
(``None``: only cut beyond the largest distance)."""

SMOOTHNESS_VALIDATION_FRACTION = Fraction(1, 5)
"""Share of the training configurations held out to choose the smoothness exponent from a grid
(``ace_ref.fit(..., smoothness=[1, 2, 3])``, ``ace-ref fit --smoothness 1,2,3``)."""

PAIR_MAX_N = 16
"""Radial functions of the two-body part of ``ace-ref fit --pair-rcut``
(:func:`ace_ref.basis.sum_basis.pair_and_many_body`)."""

BODY_ORDER_ROUNDOFF_FACTOR = 8
"""Body order of a float64 calculator: ``V_M(T)`` counts as zero below
``BODY_ORDER_ROUNDOFF_FACTOR · ε · Σ_{U⊆T} |E(U)|`` (ε = 2.2e-16), the floating-point bound of the
inclusion–exclusion sum (:meth:`ace_ref.verify.body_order.BodyOrderSpectrum.zero_tols`).
Measured on 7-atom clusters: true zeros at ≤ 0.22 ε Σ|E(U)| (linear ace_ref models ν ≤ 3,
random-weight float64 one-layer MACE); the smallest real term of a two-layer MACE at
17 ε Σ|E(U)| (V_7 = 3e-12 eV, which the old rule 1e-9 · max|E| = 1.3e-8 eV missed)."""
