r"""The first layer of a mace-torch MACE model as an ace_ref basis, and the proofs that it is one.

What the first MACE layer computes (mace-torch ``RealAgnosticInteractionBlock`` or its
``Residual`` variant, then ``EquivariantProductBasisBlock``), for atom ``i``:

.. math::

    h^{(0)}_{j,k} = W^{emb}_{k z_j}, \qquad
    A_{i,klm} = \sum_{k''} U^{z_i,l}_{k k''} \frac{1}{\bar n}\sum_{k'} V^{l}_{k''k'}
        \sum_j h^{(0)}_{j,k'}\, R_{k'l}(r_{ij})\, Y^{e3nn}_{lm}(\mathbf r_i - \mathbf r_j),

with ``R_{k'l}`` the radial MLP of the Bessel basis times the polynomial cutoff, ``V`` the
channel mixing (``linear``) and ``U`` the species-dependent mixing (``skip_tp``). Every
factor but ``R`` and ``Y`` is a constant, so

.. math::

    A_{i,klm} = \sum_j \tilde R^{z_i z_j}_{kl}(r_{ij})\, Y^{e3nn}_{lm}(-\hat{\mathbf r}_{ij}),
    \qquad \tilde R^{ab}_{kl}(r) = \sum_{k'' k'} U^{a,l}_{kk''} V^l_{k''k'} W^{emb}_{k'b}
        R_{k'l}(r) / \bar n :

a one-particle basis with species-embedded, ``l``-dependent radials (channel ``k`` plays the
role of ``n``). ``Y^{e3nn}_l(-\hat r) = (-1)^l Q_l Y_l(\hat r)`` with ``Q_l`` orthogonal
(:func:`ace_ref.one_particle.spherical.to_e3nn`), the same for every atom. The product basis
contracts ``ν`` copies of ``A_{i,k··}`` *of one channel k* with generalised CG coefficients
and species-dependent weights, so each layer-1 invariant is an O(3)-invariant polynomial of
degree ``ν`` in the blocks ``A_{i,k,l}`` of one channel: it lies in the span of the ACE
invariants of order ``ν`` with ``channels="uvu"`` on these radials — the claim of
arXiv:2205.06643 (Sec. 5) that :func:`span_residual` checks on held-out structures. With the
linear readout of a one-layer model, ``E = Σ_i [E_0(z_i) + w · h^{(1)}_i]`` is then a linear
ACE model: :func:`fit_linear_twin` fits its coefficients with :func:`ace_ref.fit.fit` and
compares energies and forces on held-out structures.

How ``R̃`` is obtained: not by re-implementing mace-torch's weight conventions (path
normalisations of e3nn's ``Linear`` and tensor products), but by running the model's own
interaction block on graphs of one edge each: for an edge ``j → i`` along a fixed unit vector
``u`` the block returns ``R̃^{z_i z_j}_{kl}(r) Y^{e3nn}_{lm}(u)``, and with e3nn's
``"component"`` normalisation ``Σ_m Y^{e3nn}_{lm}(u)^2 = 2l + 1``, so
``R̃_{kl}(r) = Σ_m msg_{klm} Y^{e3nn}_{lm}(u) / (2l + 1)``. The derivative ``dR̃/dr`` is
forward-mode automatic differentiation of the same call (``torch.func.jvp``), exact to
round-off. Nothing is fitted or tabulated.

What this does **not** prove: a nonlinear readout (the MLP of a model's last layer), the
second layer's features built from first-layer features (they are not in the span of a
one-layer ACE basis; see :mod:`ace_ref.basis.two_layer` for the linearised two-layer
basis), or that a radial MLP lies in the span of a fixed radial basis (it does not: the
span statement holds *given MACE's radials*).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols

from ace_ref.basis.ace import ACEBasis
from ace_ref.basis.interface import require_same_functions_per_species
from ace_ref.one_particle.pair_radials import CallableRadials

__all__ = [
    "SUPPORTED_FIRST_INTERACTIONS",
    "MACEModelCalculator",
    "mace_radials",
    "mace_basis",
    "mace_node_features",
    "span_residual",
    "fit_linear_twin",
]

SUPPORTED_FIRST_INTERACTIONS = (
    "RealAgnosticInteractionBlock",
    "RealAgnosticResidualInteractionBlock",
)
"""First interaction blocks whose message is linear in the edges (others are refused)."""

_EDGE_DIRECTION = np.array([0.36, 0.48, 0.8])
"""Fixed unit vector of the one-edge graphs used to read ``R̃`` (any direction works)."""


def _torch():
    """Import torch lazily, with an install hint."""
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # e3nn 0.4 with torch ≥ 2.6
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "ace_ref.neural needs PyTorch and mace-torch: pip install 'ace-ref[neural]' "
            "(it pins the CPU build of torch)"
        ) from exc
    return torch


def _mace():
    _torch()
    try:
        from mace import data as mace_data
        from mace.tools import torch_geometric, utils
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "ace_ref.neural.mace needs mace-torch: pip install 'ace-ref[neural]'"
        ) from exc
    return mace_data, torch_geometric, utils


def _check_model(model) -> None:
    torch = _torch()
    first = type(model.interactions[0]).__name__
    if first not in SUPPORTED_FIRST_INTERACTIONS:
        raise ValueError(
            f"the first interaction block is {first}; only {SUPPORTED_FIRST_INTERACTIONS} "
            "are linear in the edges (a density-normalised or attention block is not)"
        )
    dtypes = {p.dtype for p in model.parameters()}
    if dtypes != {torch.float64}:
        raise ValueError(
            f"the model's parameters are {sorted(map(str, dtypes))}: exact comparisons need "
            "float64 (convert a copy with model.double())"
        )
    if hasattr(model, "joint_embedding"):
        raise ValueError("models with a joint (non-species) embedding are not supported")


def elements_of(model) -> list[str]:
    """Chemical symbols of the model's species, in its one-hot order."""
    return [chemical_symbols[int(z)] for z in model.atomic_numbers]


def _layer1_shape(model) -> tuple[int, int]:
    """Channels ``K`` and ``l_max`` of the first layer's atomic base."""
    inter = model.interactions[0]
    lmax = max(ir.l for _, ir in model.spherical_harmonics.irreps_out)
    counts: dict[int, int] = {}
    for mul, ir in inter.irreps_out:
        if ir.p != (-1) ** ir.l:
            raise ValueError(f"unexpected parity in the first layer's irreps {inter.irreps_out}")
        counts[ir.l] = counts.get(ir.l, 0) + mul
    if set(counts) != set(range(lmax + 1)) or len(set(counts.values())) != 1:
        raise ValueError(f"the first layer's irreps {inter.irreps_out} are not K × (0..l_max)")
    return counts[0], lmax


def _layer1_radials(model, r: np.ndarray, a, b) -> tuple[np.ndarray, np.ndarray]:
    """``R̃^{ab}_{kl}(r)`` and ``dR̃/dr`` (shape ``(m, K, l_max + 1)``) for species indices
    ``a`` (centres) and ``b`` (neighbours) — integers or one per distance — read from
    one-edge graphs, all in one call of the block (module docstring)."""
    torch = _torch()
    K, lmax = _layer1_shape(model)
    inter = model.interactions[0]
    m = len(r)
    ns = len(model.atomic_numbers)
    node_attrs = torch.zeros(2 * m, ns, dtype=torch.float64)
    node_attrs[torch.arange(m), torch.as_tensor(np.broadcast_to(a, m).copy())] = 1.0
    node_attrs[torch.arange(m, 2 * m), torch.as_tensor(np.broadcast_to(b, m).copy())] = 1.0
    senders = torch.arange(m, 2 * m)
    receivers = torch.arange(m)
    edge_index = torch.stack([senders, receivers])
    u = torch.tensor(_EDGE_DIRECTION / np.linalg.norm(_EDGE_DIRECTION), dtype=torch.float64)
    Y = model.spherical_harmonics(u[None, :])[0]
    edge_attrs = Y[None, :].expand(m, -1)
    node_feats = model.node_embedding(node_attrs)

    def radial(rt):
        edge_feats, cutoff = model.radial_embedding(
            rt[:, None], node_attrs, edge_index, model.atomic_numbers
        )
        msg, _ = inter(
            node_attrs=node_attrs,
            node_feats=node_feats,
            edge_attrs=edge_attrs,
            edge_feats=edge_feats,
            edge_index=edge_index,
            cutoff=cutoff,
            first_layer=True,
        )
        msg = msg[:m]  # (m, K, (l_max + 1)^2), on the receivers
        cols = [
            (msg[:, :, l * l : (l + 1) ** 2] * Y[l * l : (l + 1) ** 2]).sum(-1) / (2 * l + 1)
            for l in range(lmax + 1)
        ]
        return torch.stack(cols, dim=-1)

    rt = torch.tensor(np.asarray(r, dtype=np.float64))
    with torch.no_grad():
        R, dR = torch.func.jvp(radial, (rt,), (torch.ones_like(rt),))
    return R.numpy().copy(), dR.numpy().copy()


def mace_radials(model) -> CallableRadials:
    r"""The first layer's effective radials ``R̃^{z_i z_j}_{kl}(r)`` as ace_ref radials.

    Species-embedded (:class:`~ace_ref.one_particle.pair_radials.CallableRadials` with
    ``species_embedded=True``), ``n_max = K`` channels, ``l_max`` = the model's ``max_ell``,
    cutoff ``r_max`` for every pair. The model must be float64 and its first interaction one of
    :data:`SUPPORTED_FIRST_INTERACTIONS`. The callable keeps a reference to ``model``.
    """
    _check_model(model)
    K, lmax = _layer1_shape(model)
    els = elements_of(model)
    index = {el: s for s, el in enumerate(els)}

    def function(r, center, neighbour):
        return _layer1_radials(model, r, index[center], index[neighbour])

    def pairs_function(r, centers, neighbours):
        a = np.array([index[c] for c in centers], dtype=np.int64)
        b = np.array([index[n] for n in neighbours], dtype=np.int64)
        return _layer1_radials(model, r, a, b)

    return CallableRadials(
        els, K, lmax, float(model.r_max), function, species_embedded=True,
        description=f"MACE layer-1 radials ({K} channels, l ≤ {lmax})",
        pairs_function=pairs_function,
    )  # fmt: skip


def _correlation(model) -> int:
    sc = model.products[0].symmetric_contractions
    return int(getattr(sc, "correlation", None) or sc.contractions[0].correlation)


def mace_basis(model, order: int | None = None, cache_dir="default", **options) -> ACEBasis:
    """The ace_ref twin of the first MACE layer: ACE on :func:`mace_radials`, ``uvu`` channels.

    ``order`` defaults to the layer's correlation order; ``max_n = K`` (channels) and
    ``max_l = l_max`` for every order; ``options`` go to :class:`~ace_ref.basis.ace.ACEBasis`
    (e.g. ``max_output_L``).
    """
    radials = mace_radials(model)
    order = _correlation(model) if order is None else int(order)
    return ACEBasis(
        radials.elements, order, max_n=radials.n_max, max_l=radials.l_max, radial=radials,
        channels="uvu", cache_dir=cache_dir, **options,
    )  # fmt: skip


def _batch(model, atoms: Atoms) -> dict:
    torch = _torch()
    mace_data, torch_geometric, utils = _mace()
    z_table = utils.AtomicNumberTable([int(z) for z in model.atomic_numbers])
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # mace-torch builds the graph in the default dtype
    try:
        config = mace_data.config_from_atoms(atoms)
        graph = mace_data.AtomicData.from_config(
            config, z_table=z_table, cutoff=float(model.r_max), heads=getattr(model, "heads", None)
        )
    finally:
        torch.set_default_dtype(previous)
    loader = torch_geometric.dataloader.DataLoader([graph], batch_size=1, shuffle=False)
    return next(iter(loader)).to_dict()


@contextlib.contextmanager
def _only_order(model, nu: int):
    """Within the block, the model's first product block keeps only its correlation-``nu``
    term; the weights are restored on exit (``nu=None``: unchanged).

    mace-torch's ``Contraction`` holds ``weights_max`` for ``ν = correlation`` and
    ``weights[i]`` for ``ν = correlation − 1 − i``; the output is linear in them. The model is
    changed in place and restored rather than copied (``copy.deepcopy`` fails on the
    ``EmptyParam`` of a multi-layer model's later blocks).
    """
    if nu is None:
        yield model
        return
    torch = _torch()
    corr = _correlation(model)
    if not 1 <= nu <= corr:
        raise ValueError(f"nu must be in 1..{corr}, got {nu}")
    saved = []
    with torch.no_grad():
        for c in model.products[0].symmetric_contractions.contractions:
            for order, w in [(corr, c.weights_max)] + [
                (corr - 1 - i, w) for i, w in enumerate(c.weights)
            ]:
                if order != nu:
                    saved.append((w, w.detach().clone()))
                    w.zero_()
    try:
        yield model
    finally:
        with torch.no_grad():
            for w, value in saved:
                w.copy_(value)


def mace_node_features(
    model, atoms: Atoms, nu: int | None = None, irrep: str = "0e", convention: str = "ace_ref"
) -> np.ndarray:
    r"""One irrep block of the first layer's node features.

    ``nu=None``: the layer's node features ``h^{(1)}`` (after the product block's linear map
    and, for a residual first block, its species-dependent self-connection). ``nu = ν``: the
    symmetric contraction's correlation-``ν`` term alone (before that linear map).

    ``irrep`` names an irrep of the layer's output in e3nn's notation (``"0e"``, ``"1o"``,
    ``"1e"``, ``"2e"`` …; the layer's output irreps are the model's ``hidden_irreps``, except
    for a one-layer model, whose only layer keeps its scalars). ``"0e"`` returns shape
    ``(n_atoms, K_out)``; any other returns ``(n_atoms, mul, 2L + 1)`` with the components
    along the last axis in the convention named by ``convention``:

    * ``"ace_ref"`` (default): ace_ref's real-harmonic order (``m = −L … L``, so for ``L = 1``
      the components ``(y, z, x)``), the last axis transforming with ace_ref's ``D^L(Q)``
      like :meth:`ace_ref.basis.ace.ACEBasis.features` — converted from e3nn's order by
      :func:`~ace_ref.one_particle.spherical.from_e3nn` (for ``L = 1`` the permutation
      ``e3nn[..., [1, 2, 0]]``: e3nn's ``1o`` is ``(x, y, z)``; no sign);
    * ``"e3nn"``: as the model stores them.

    Parity: e3nn's ``"1o"`` (a vector: odd under inversion) is what
    ``ACEBasis.features(atoms, 1)`` spans (its default parity ``(-1)^L``); ``"1e"`` (a
    pseudo-vector) is spanned by ``ACEBasis.features(atoms, 1, parity=+1)``. In layer 1 the
    atomic base has only natural parity (``0e, 1o, 2e, …``), so ``1e`` needs ``Σ l`` even with
    ``L = 1``: with one channel per product (``uvu``) the first such functions are of order
    ``ν = 3`` (e.g. ``l = (1, 1, 2)``); the ``ν = 1, 2`` contractions to ``1e`` are zero.
    """
    torch = _torch()
    from e3nn import o3

    from ace_ref.one_particle.spherical import from_e3nn

    _check_model(model)
    if convention not in ("ace_ref", "e3nn"):
        raise ValueError(f"convention must be 'ace_ref' or 'e3nn', got {convention!r}")
    target_ir = o3.Irrep(irrep)
    prod = model.products[0]
    irreps = prod.linear.irreps_out
    if not any(ir == target_ir for _, ir in irreps):
        raise ValueError(f"the first layer's node features are {irreps}: no {target_ir}")
    captured = {}
    target = prod if nu is None else prod.symmetric_contractions
    with _only_order(model, nu):
        handle = target.register_forward_hook(lambda mod, i, out: captured.setdefault("x", out))
        try:
            with torch.no_grad():
                model(_batch(model, atoms), compute_force=False)
        finally:
            handle.remove()
    x = captured["x"].detach()
    L = target_ir.l
    blocks = [
        x[:, sl].reshape(len(x), mul, 2 * L + 1)  # e3nn's "mul_ir" layout: channel, then m
        for (mul, ir), sl in zip(irreps, irreps.slices(), strict=True)
        if ir == target_ir
    ]
    out = torch.cat(blocks, dim=1).numpy().copy()
    if target_ir == o3.Irrep("0e"):
        return out[:, :, 0]
    if convention == "ace_ref":
        # from_e3nn acts on a full (l_max + 1)^2 axis: embed the degree-L block and cut it out
        full = np.zeros(out.shape[:2] + ((L + 1) ** 2,))
        full[..., L * L :] = out
        out = from_e3nn(full, L)[..., L * L :]
    return out


class MACEModelCalculator(Calculator):
    """ASE calculator around an in-memory mace-torch model (energy and forces, float64).

    ``cutoff`` (Å) is the model's ``r_max``: ``ace-ref verify`` reads it from here.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, model, **kwargs) -> None:
        super().__init__(**kwargs)
        _check_model(model)
        self.model = model
        self.cutoff = float(model.r_max)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        out = self.model(_batch(self.model, self.atoms), compute_force=True)
        energy = float(out["energy"].detach()[0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": out["forces"].detach().numpy().copy(),
        }


def atomic_energies(model) -> dict[str, float]:
    """The model's isolated-atom energies ``E_0(z)`` (first head)."""
    e0 = model.atomic_energies_fn.atomic_energies.detach().numpy()
    e0 = e0.reshape(-1, len(model.atomic_numbers))[0]
    return {el: float(v) for el, v in zip(elements_of(model), e0, strict=True)}


def span_residual(
    features: Callable[[Atoms], np.ndarray],
    basis,
    train: Sequence[Atoms],
    test: Sequence[Atoms],
    columns: np.ndarray | None = None,
    constant: bool | None = None,
    L: int = 0,
    parity: int | None = None,
) -> dict:
    r"""How well per-atom features lie in the span of a basis (fit on ``train``, test on ``test``).

    ``L = 0`` (invariants): for every central species ``z`` separately, least squares (SVD,
    default cut-off) of the target features ``Y`` (rows: atoms of species ``z``) on the basis
    columns of that species (``basis.features``; a subset ``columns`` of the per-species
    column indices if given, plus a constant column when ``constant``, the default):
    ``Y ≈ X c``.

    ``L > 0`` (equivariant): ``features(atoms)`` has shape ``(n_atoms, mul, 2L + 1)`` in
    ace_ref's ``m`` convention (e.g. :func:`mace_node_features` with ``irrep="1o"``) and the
    basis columns are ``basis.features(atoms, L)`` (shape ``(n_atoms, n_L, 2L + 1)``, subset
    ``columns``). An O(3)-equivariant linear map between copies of one irrep is a multiple
    of the identity on ``m`` (Schur), so one coefficient matrix ``c`` (``n_L × mul``) per
    central species is fitted for **all** ``m`` at once: ``Y[i, :, m] ≈ Σ_f X[i, f, m]
    c[f, :]``, the rows of the least-squares problem being the pairs (atom, ``m``). No
    constant column (a constant is not equivariant); ``constant=True`` is refused.
    ``parity`` (default ``(-1)^L``) selects the basis functions of that parity
    (:meth:`ace_ref.basis.ace.ACEBasis.tables`): ``L = 1, parity = +1`` for e3nn's ``1e``
    (pseudo-vectors), which the default ``(-1)^L`` functions do not span.

    Reported on the held-out atoms:

    .. math:: \rho = \frac{\| X_{test} c - Y_{test} \|_F}{\| Y_{test} \|_F}.

    Returns
    -------
    dict
        ``{"test_relative": max over species, "train_relative": ..., "per_species":
        {z: (train, test, n_train_rows, n_columns, rank)}}`` (rows: atoms for ``L = 0``,
        atoms × ``(2L + 1)`` otherwise).
    """
    L = int(L)
    require_same_functions_per_species(basis, "span_residual")
    packed = L == 0 and parity in (None, 1)  # invariants: packed layout, species blocks
    if constant is None:
        constant = packed
    if constant and not packed:
        raise ValueError("a constant column is not equivariant: constant=True needs L = 0")
    options = {} if parity is None else {"parity": parity}
    K = basis.n_functions_per_species if packed else basis.tables(L, **options).n_functions
    cols = np.arange(K) if columns is None else np.asarray(columns, dtype=np.int64)

    def stack(structures):
        X, Y, S = [], [], []
        for atoms in structures:
            s = np.array([basis.elements.index(z) for z in atoms.get_chemical_symbols()])
            x = basis.features(atoms) if packed else basis.features(atoms, L, **options)
            y = np.asarray(features(atoms), dtype=float)
            if not packed:  # rows (atom, m): X[i, f, m] → row (i, m), column f
                if y.ndim != 3 or y.shape[0] != len(atoms) or y.shape[2] != 2 * L + 1:
                    raise ValueError(f"L = {L} features must be (n_atoms, mul, {2 * L + 1})")
                x = np.swapaxes(x, 1, 2).reshape(-1, x.shape[1])
                y = np.swapaxes(y, 1, 2).reshape(-1, y.shape[1])
                s = np.repeat(s, 2 * L + 1)
            X.append(x)
            Y.append(y)
            S.append(s)
        return np.vstack(X), np.vstack(Y), np.concatenate(S)

    Xtr, Ytr, Str = stack(train)
    Xte, Yte, Ste = stack(test)
    per, worst_train, worst_test = {}, 0.0, 0.0
    for s, el in enumerate(basis.elements):
        rows_tr, rows_te = Str == s, Ste == s
        if not rows_tr.any() or not rows_te.any():
            continue
        block = s * K + cols if packed else cols

        def design(X, rows, block=block):
            A = X[rows][:, block]
            return np.hstack([A, np.ones((len(A), 1))]) if constant else A

        A_tr, A_te = design(Xtr, rows_tr), design(Xte, rows_te)
        scale = np.maximum(np.abs(A_tr).max(axis=0), 1e-300)
        c, _, rank, _ = np.linalg.lstsq(A_tr / scale, Ytr[rows_tr], rcond=None)
        c = c / scale[:, None]
        tr = np.linalg.norm(A_tr @ c - Ytr[rows_tr]) / np.linalg.norm(Ytr[rows_tr])
        te = np.linalg.norm(A_te @ c - Yte[rows_te]) / np.linalg.norm(Yte[rows_te])
        per[el] = (float(tr), float(te), int(rows_tr.sum()), A_tr.shape[1], int(rank))
        worst_train, worst_test = max(worst_train, tr), max(worst_test, te)
    return {"train_relative": worst_train, "test_relative": worst_test, "per_species": per}


def fit_linear_twin(
    model,
    train: Sequence[Atoms],
    test: Sequence[Atoms],
    basis: ACEBasis | None = None,
    lam: float = 1e-20,
) -> dict:
    r"""Fit the ace_ref twin of a one-layer MACE with a linear readout, compare on ``test``.

    The MACE model labels ``train`` (energies, forces); :func:`ace_ref.fit.fit` fits a linear
    model on :func:`mace_basis` (``solver="ridge"`` with a tiny ``lam``, no smoothness prior,
    no repulsive core, ``E_0`` = the model's atomic energies); both predict ``test``. The ridge
    solve is spectral (``x = s zᵀ/(s² + λ)``), so ``λ`` only guards exact zeros: the smallest
    singular values of these design matrices are ~1e-4, and ``λ = 1e-14`` already biases the
    coefficients by ~1e-6 relative, hence the default ``1e-20``.

    Returns
    -------
    dict
        ``energy_relative = max_s |E_ace − E_mace| / max_s |E_mace − Σ E_0|`` (the
        interaction energy sets the scale), ``force_relative = max |F_ace − F_mace| / max
        |F_mace|``, the fitted :class:`~ace_ref.models.linear.LinearACEModel` and the basis.
    """
    from ace_ref.fit.data import Config
    from ace_ref.fit.pipeline import fit

    if len(model.interactions) != 1:
        raise ValueError(
            f"the model has {len(model.interactions)} interaction layers: only a one-layer "
            "MACE (whose readout is linear) is a linear ACE model"
        )
    basis = mace_basis(model) if basis is None else basis
    calc = MACEModelCalculator(model)
    e0 = atomic_energies(model)

    def label(atoms):
        a = atoms.copy()
        a.calc = calc
        return a.get_potential_energy(), a.get_forces()

    configs = []
    for k, atoms in enumerate(train):
        E, F = label(atoms)
        configs.append(Config(atoms.copy(), E, F, None, source=f"mace-labelled {k}"))
    result = fit(
        configs, basis, e0=e0, solver="ridge", lam=lam, smoothness=0.0, core=None,
        committee_size=0, active_set_size=0, weights="energy=1,forces=1,virial=0",
    )  # fmt: skip
    fitted = result.model
    dE, Escale, dF, Fscale = 0.0, 0.0, 0.0, 0.0
    for atoms in test:
        E, F = label(atoms)
        p = fitted.predict(atoms)
        e_ref = sum(e0[s] for s in atoms.get_chemical_symbols())
        dE, Escale = max(dE, abs(p["energy"] - E)), max(Escale, abs(E - e_ref))
        dF, Fscale = max(dF, np.abs(p["forces"] - F).max()), max(Fscale, np.abs(F).max())
    return {
        "energy_relative": dE / Escale,
        "force_relative": dF / Fscale,
        "energy_max_abs": dE,
        "force_max_abs": dF,
        "model": fitted,
        "basis": basis,
    }
