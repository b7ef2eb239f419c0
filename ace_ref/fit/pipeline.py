"""The library's one fit call: configurations and a basis in, a fitted model and its errors out.

:func:`fit` runs the whole pipeline of a linear fit,

    configurations → (E0 subtracted) weighted design rows → streamed summary (QR or Gram)
    → smoothness prior Γ → solver (BLR, ridge, TSVD, LSQR) → model → error report,

with every choice defaulting to :mod:`ace_ref.defaults`. ``ace-ref fit`` is a thin wrapper
around it; anything the command does can be done from Python with the same result.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ace_ref import defaults
from ace_ref.basis.interface import Basis, species_columns
from ace_ref.fit.assembly import LinearSystem, Weights, assemble, config_row_weights, merge
from ace_ref.fit.cost import FitCost, estimate_fit_cost
from ace_ref.fit.data import Config, elements_of, fit_e0, mean_e0, read_configs, read_e0
from ace_ref.fit.errors import ErrorReport, compute_errors
from ace_ref.fit.reduction import row_counts
from ace_ref.fit.selection import (
    check_ranking_rows,
    ranking_configurations,
    select_for_fit,
    subset_system,
)
from ace_ref.fit.solvers import (
    SOLVERS,
    Solution,
    check_order_weights,
    smoothness_prior,
    solve,
)
from ace_ref.models.core import RepulsiveCore
from ace_ref.models.files import checked_e0
from ace_ref.models.load import model_for
from ace_ref.models.uncertainty import ActiveSet, Committee, Coverage, Uncertainty

__all__ = [
    "FitResult",
    "UnderdeterminedFitWarning",
    "check_observations",
    "fit",
    "plan",
    "resolve_e0",
    "training_uncertainty",
]

Configs = Sequence[Config] | str | Path | Sequence[str | Path]


@dataclass
class FitResult:
    """What :func:`fit` returns.

    ``model`` is the fitted :class:`~ace_ref.models.linear.LinearACEModel` (or
    :class:`~ace_ref.models.two_layer.TwoLayerModel` for a two-layer basis); ``errors`` the
    :class:`~ace_ref.fit.errors.ErrorReport` on the training set (label ``"train"``) and on
    every ``test`` set; ``solution`` the solver's coefficients and ``info`` (λ, α, β, rank…).
    """

    model: object
    errors: ErrorReport
    solution: Solution
    n_rows: int
    n_train_configs: int
    seconds_assembly: float
    """Everything before the solve: reading, plan, selection (pool Gram and ranking) and the
    summary of the fitted columns; ``timings`` splits it."""
    seconds_total: float
    timings: dict = field(default_factory=dict)
    cost: FitCost | None = None
    """The estimate made before the fit (:func:`~ace_ref.fit.cost.estimate_fit_cost`)."""

    def achieved(self) -> str:
        """How fast the assembly and the solve ran against the machine's measured ``dgemm``
        rate (:meth:`ace_ref.fit.cost.FitCost.achieved`); empty without a plan."""
        if self.cost is None or not self.timings:
            return ""
        solves = self.timings["solve"] + self.timings.get("prior choice", 0.0)
        return self.cost.achieved(
            self.timings["assembly"],
            solves,
            self.timings.get("pool Gram", 0.0),
            self.timings.get("ranking", 0.0),
        )

    def summary(self) -> str:
        """One line: size, data, time and solver."""
        pool = None if self.cost is None else self.cost.pool_coefficients
        return (
            f"fitted {len(self.model.basis)} coefficients"
            + ("" if pool is None else f" (chosen greedily from {pool})")
            + f" on {self.n_train_configs} "
            f"configurations ({self.n_rows} rows) in {self.seconds_total:.1f} s"
            + ("" if self.cost is None else f" (estimated {self.cost.total_seconds:.0f} s)")
            + (
                ""
                if not self.timings
                else " [" + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items()) + "]"
            )
            + f"; solver {self.solution.info}"
        )


def _as_configs(data: Configs, elements, what: str, **read_options) -> list[Config]:
    if isinstance(data, str | Path):
        data = [data]
    data = list(data)
    if not data:
        raise ValueError(f"no {what} configurations given")
    if all(isinstance(c, Config) for c in data):
        return data
    if any(isinstance(c, Config) for c in data):
        raise ValueError(f"{what}: give either Config objects or file paths, not both")
    return read_configs(data, elements=elements, **read_options)


def resolve_e0(e0, train: list[Config], elements: list[str]) -> dict[str, float]:
    """Isolated-atom energies of ``elements``.

    ``e0`` is a dict, an extxyz file of isolated atoms, ``"mean"`` (every element gets the
    mean training energy per atom, :func:`~ace_ref.fit.data.mean_e0`) or ``None`` (least
    squares on the training energies, refused where they cannot determine it:
    :func:`~ace_ref.fit.data.fit_e0`). Every element must have a finite value; entries for
    other elements are dropped.
    """
    if e0 is None:
        values = fit_e0(train, elements)
        source = "the least-squares fit to the training energies"
    elif isinstance(e0, str) and e0 == "mean":
        values = mean_e0(train, elements)
        source = "the mean energy per atom"
    elif isinstance(e0, str | Path):
        values = read_e0(e0)
        source = str(e0)
    elif isinstance(e0, dict):
        values = dict(e0)
        source = "the e0 dict"
    else:
        raise ValueError(f"e0 must be a dict, a file, 'mean' or None, got {type(e0).__name__}")
    missing = [el for el in elements if el not in values]
    if missing:
        raise ValueError(f"{source} has no isolated-atom energy for {', '.join(missing)}")
    try:
        return checked_e0(elements, {el: values[el] for el in elements})
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def fit(
    train: Configs,
    basis: Basis,
    *,
    e0=None,
    test: dict[str, Configs] | None = None,
    solver: str = defaults.SOLVER,
    weights: Weights | str = defaults.WEIGHTS,
    smoothness: float = defaults.SMOOTHNESS,
    order_weights=defaults.ORDER_WEIGHTS,
    lam: float = defaults.LAMBDA,
    assembly: str = defaults.ASSEMBLY,
    client=None,
    progress: bool = False,
    stress_unit: str = defaults.STRESS_UNIT,
    stress_convention: str = defaults.STRESS_CONVENTION,
    keys: dict[str, str] | None = None,
    metadata: dict | None = None,
    seed: int = defaults.SEED,
    committee_size: int = defaults.COMMITTEE_SIZE,
    on_plan: Callable[[FitCost], None] | None = None,
    memory_limit: int | None | str = "available",
    active_set_size: int = defaults.ACTIVE_SET_SIZE,
    core: str | None = defaults.CORE,
    core_radii: tuple[float, float] = (defaults.CORE_INNER, defaults.CORE_OUTER),
    select: int | None = None,
    ranking_rows: int | None = None,
    flop_rate: float | None = None,
    _stop_after_plan: bool = False,
) -> FitResult:
    """Fit a linear model on ``basis`` to ``train`` and report its errors.

    Parameters
    ----------
    train
        :class:`~ace_ref.fit.data.Config` objects, or extxyz path(s) read with
        :func:`~ace_ref.fit.data.read_configs` (``stress_unit``, ``stress_convention``,
        ``keys``: ``{"energy": "REF_energy", "forces": "REF_forces", "stress": ...,
        "virial": ...}`` for labels stored under other names).
    basis
        Any :class:`~ace_ref.basis.interface.Basis` (ACE, sparsified, two-layer).
    e0
        Isolated-atom energies: ``{"H": -13.6, ...}``, an extxyz file of isolated atoms,
        ``"mean"`` (the mean training energy per atom for every element) or ``None`` to fit
        them by least squares to the training energies (refused where the compositions
        cannot determine them: :func:`~ace_ref.fit.data.fit_e0`).
    test
        ``{label: configs or path(s)}`` to report errors on besides the training set.
    solver, lam, smoothness, order_weights
        ``solver`` in :data:`~ace_ref.fit.solvers.SOLVERS`; ``lam`` is λ of ridge/LSQR; the
        prior is ``Γ_kk = w_{ν_k} (1 + deg_k)^smoothness``
        (:func:`~ace_ref.fit.solvers.smoothness_prior`), ``order_weights`` the ``w_ν`` for
        ``ν = 1, 2, …`` (``None``: all 1). A list of exponents, or a list of weight tuples, is
        a grid: each combination is scored by the weighted squared error on
        ``defaults.SMOOTHNESS_VALIDATION_FRACTION`` of the configurations held out at random,
        the best is kept (``metadata["smoothness"]``, ``metadata["order_weights"]``, the
        scores under ``"smoothness_validation_error"``) and the final solve uses all the data
        (the two summaries merged, so nothing is assembled twice).
    weights
        :class:`~ace_ref.fit.assembly.Weights` or its text form ``"energy=30,forces=1"``.
    assembly
        ``"qr"`` (streamed QR) or ``"normal"`` (Gram matrix).
    client
        A ``distributed.Client``: assemble on that Dask cluster (same summary, bit for bit).
    seed
        Seed of the ``tsvd`` validation split (``defaults.TSVD_VALIDATION_FRACTION`` of the
        configurations, chosen at random) and of the posterior committee.
    committee_size, active_set_size
        What the model learns about its own reliability
        (:class:`~ace_ref.models.uncertainty.Uncertainty`): the number of BLR posterior samples
        it keeps (``blr`` only; 0: none) and the largest active set per element for the
        extrapolation grade (0: none). The coverage of the training data is always recorded.
    on_plan
        Called with the :class:`~ace_ref.fit.cost.FitCost` estimate (coefficients, rows,
        peak memory, time per stage at the measured ``dgemm`` rate) before any assembly.
    memory_limit
        Refuse (``ValueError``) a fit whose estimated peak memory exceeds this many bytes;
        ``"available"`` (default): what the system has free now; ``None``: no check.
    core, core_radii
        ``"zbl"``: add a fixed :class:`~ace_ref.models.core.RepulsiveCore` that is zero on
        every training configuration (full ZBL below ``core_radii[0]``, switched off by
        ``core_radii[1]``, both fractions of the shortest training distance of each species
        pair), so that atoms cannot collapse where no data constrained the polynomial;
        ``None``: no core.

    select
        Keep only this many of ``basis``'s functions, chosen by greedy selection
        (:mod:`~ace_ref.fit.selection`) on the Gram summary of the whole basis (the pool),
        every function of ``defaults.SELECT_KEEP_ORDERS`` first; the chosen functions are
        then fitted exactly (``metadata["selection"]``).
    ranking_rows
        With ``select``: assemble the pool's Gram summary for the ranking from training
        configurations drawn at random (``seed``) up to this many rows
        (:func:`~ace_ref.fit.selection.ranking_configurations`); ``None``: all of them. The
        fit proper uses every configuration.
    flop_rate
        The ``dgemm`` rate (flop/s, all threads) the plan's times are computed from;
        ``None``: measured now (:func:`~ace_ref.fit.cost.measure_flop_rate`). To see what a fit
        costs without running it, use :func:`plan`.

    Returns
    -------
    FitResult
        ``.model`` (save it with ``.model.save(path)``), ``.errors`` (print it), timings.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose from {SOLVERS}")
    if assembly not in ("qr", "normal"):
        raise ValueError(f"unknown assembly {assembly!r}; choose 'qr' or 'normal'")
    if isinstance(weights, str):
        weights = Weights.parse(weights)
    if core not in ("zbl", None):
        raise ValueError(f"unknown core {core!r}; choose 'zbl' or None")
    for name, value in (("committee_size", committee_size), ("active_set_size", active_set_size)):
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"{name} must be an integer ≥ 0, got {value!r}")
    if ranking_rows is not None and select is None:
        raise ValueError("ranking_rows goes with greedy selection (select=k)")
    if flop_rate is not None and not (np.isfinite(flop_rate) and flop_rate > 0):
        raise ValueError(f"flop_rate must be a positive number of flop/s, got {flop_rate!r}")
    if select is not None:
        if isinstance(select, bool) or int(select) != select or not 1 <= select < len(basis):
            raise ValueError(
                f"select must be a whole number of functions between 1 and {len(basis) - 1} "
                f"(the basis has {len(basis)}), got {select!r}"
            )
        if not hasattr(basis, "with_columns"):
            raise ValueError(
                f"select needs a basis that can keep a subset of its functions (ACEBasis), "
                f"not {type(basis).__name__}"
            )
        select = int(select)
        check_ranking_rows(ranking_rows)
        kept_always = np.flatnonzero(np.isin(basis.column_orders(), defaults.SELECT_KEEP_ORDERS))
        always = len(kept_always)
        if select <= always:  # refused before any work
            raise ValueError(
                f"select={select} keeps no more than the {always} functions of orders "
                f"{defaults.SELECT_KEEP_ORDERS} that selection always keeps; choose more "
                "functions, or no selection"
            )
    grid = [float(p) for p in np.atleast_1d(smoothness)]
    weight_grid = _order_weight_grid(order_weights)
    if len(grid) * len(weight_grid) > 1 and solver == "tsvd":
        raise ValueError("choose either the tsvd solver or a prior grid (both hold data out)")
    for p in grid:
        if not (np.isfinite(p) and p >= 0):
            raise ValueError(f"the smoothness exponent must be a number ≥ 0, got {p}")
    unknown_keys = sorted(set(keys or {}) - {"energy", "forces", "stress", "virial"})
    if unknown_keys:
        raise ValueError(f"keys: unknown label {unknown_keys}; use energy, forces, stress, virial")
    read_options = {
        "stress_unit": stress_unit,
        "stress_convention": stress_convention,
        **{f"{name}_key": key for name, key in (keys or {}).items()},
    }
    t0 = time.perf_counter()
    train = _as_configs(train, basis.elements, "training", **read_options)
    unknown = sorted(set(elements_of(train)) - set(basis.elements))
    if unknown:
        raise ValueError(f"training data contain {unknown}, not among {basis.elements}")
    # test sets are read (and checked) before any work, not after the fit
    test_sets = {
        label: _as_configs(data, basis.elements, f"test set {label!r}", **read_options)
        for label, data in (test or {}).items()
    }
    check_observations(basis, train, weights)
    n_priors = len(grid) * len(weight_grid)
    cost = estimate_fit_cost(
        basis,
        train,
        weights,
        assembly=assembly,
        test_atoms=sum(len(c.atoms) for cs in test_sets.values() for c in cs),
        solves=n_priors + 1 if n_priors > 1 else 1,
        select=select,
        ranking_rows=ranking_rows,
        flop_rate=flop_rate,
        active_set_size=active_set_size,
    )
    if on_plan is not None:
        on_plan(cost)
    if _stop_after_plan:
        return cost
    t_plan = time.perf_counter()
    limit = cost.available_bytes if memory_limit == "available" else memory_limit
    if limit is not None and cost.peak_bytes > limit:
        raise ValueError(
            f"this fit needs about {cost.peak_bytes / 2**30:.1f} GiB ({cost.n_coefficients} "
            f"coefficients: the summary alone is {8 * cost.n_coefficients**2 / 2**30:.1f} GiB), "
            f"more than the {limit / 2**30:.1f} GiB available; use a smaller basis (a lower "
            "degree, or --preset fast) or fewer threads, or give memory_limit=None "
            "(--no-memory-check) to try anyway"
        )
    e0 = resolve_e0(e0, train, basis.elements)
    validation = None
    if solver == "tsvd":
        idx = np.random.default_rng(seed).permutation(len(train))
        n_val = max(1, int(len(train) * defaults.TSVD_VALIDATION_FRACTION))
        validation = _summary(
            basis, [train[i] for i in idx[:n_val]], e0, weights, assembly, client, False
        )
        train = [train[i] for i in idx[n_val:]]
    t_selection, t_pool_gram, selection_meta, selected_system = 0.0, 0.0, None, None
    if select is not None:
        t_selection = time.perf_counter()
        pool_gamma = smoothness_prior(basis, grid[0], weight_grid[0])
        ranked = ranking_configurations(row_counts(train, weights), ranking_rows, seed)
        ranking_train = train if len(ranked) == len(train) else [train[i] for i in ranked]
        pool = _summary(basis, ranking_train, e0, weights, "normal", client, progress)
        t_pool_gram = time.perf_counter() - t_selection
        reuse = (
            assembly == "normal" and len(grid) * len(weight_grid) == 1 and ranking_train is train
        )
        # rank in the pool's own Gram matrix unless its sub-matrix is the summary reused below
        picked = select_for_fit(pool, select, pool_gamma, overwrite=not reuse, forced=kept_always)
        pool_size = len(basis)
        basis = basis.with_columns(picked.order)
        if reuse:
            selected_system = subset_system(pool, picked.first(select))
        ranking_rows_used = int(pool.n_rows)
        del pool
        selection_meta = {
            "pool": pool_size,
            "kept": select,
            "ranking_configs": len(ranked),
            "ranking_rows": ranking_rows_used,
            "lambda": picked.lam,
            "objective_pool_start": picked.initial,
            "objective_kept": float(picked.objective[-1]),
            "order": picked.order.tolist(),
        }
        t_selection = time.perf_counter() - t_selection
    scores = None
    t_trials = 0.0  # the solves that choose the prior from a grid
    candidates = [(p, w) for w in weight_grid for p in grid]
    if len(candidates) > 1:  # choose the prior on held-out configurations, then solve on all
        idx = np.random.default_rng(seed).permutation(len(train))
        n_val = max(1, int(len(train) * defaults.SMOOTHNESS_VALIDATION_FRACTION))
        held_out = _summary(
            basis, [train[i] for i in idx[:n_val]], e0, weights, assembly, client, False
        )
        rest = _summary(
            basis, [train[i] for i in idx[n_val:]], e0, weights, assembly, client, progress
        )
        t_trials = time.perf_counter()
        scores = {
            (p, w): held_out.squared_error(
                solve(rest, solver, smoothness_prior(basis, p, w), lam=lam).coefficients
            )
            for p, w in candidates
        }
        t_trials = time.perf_counter() - t_trials
        smoothness, order_weights = min(scores, key=scores.get)
        system = merge([rest, held_out])
    else:
        ((smoothness, order_weights),) = candidates
        if selected_system is not None:
            system = selected_system
        else:
            system = _summary(basis, train, e0, weights, assembly, client, progress)
    gamma = smoothness_prior(basis, smoothness, order_weights)
    t_assembly = time.perf_counter() - t0
    solution = solve(
        system,
        solver,
        gamma,
        lam=lam,
        validation=validation,
        committee_size=committee_size if solver == "blr" else 0,
        seed=seed,
    )
    t_solve = time.perf_counter()
    uncertainty = training_uncertainty(basis, train, solution, active_set_size)
    t_uncertainty = time.perf_counter()
    t_total = t_uncertainty - t0
    meta = {
        "solver": solution.info,
        "n_train_configs": len(train),
        "weights": _weights_text(weights),
        "seconds_assembly": t_assembly,
        "seconds_total": t_total,
        "smoothness": smoothness,
        "order_weights": None if order_weights is None else list(order_weights),
        **({"selection": selection_meta} if selection_meta else {}),
        **(
            {
                "smoothness_validation_error": {
                    _prior_label(p, w, len(weight_grid) > 1): v for (p, w), v in scores.items()
                }
            }
            if scores
            else {}
        ),
        **(metadata or {}),
    }
    repulsion = None
    if core == "zbl":
        repulsion = RepulsiveCore.from_coverage(basis.elements, uncertainty.coverage, *core_radii)
    model = model_for(basis, solution.coefficients, e0, meta, uncertainty, repulsion)
    errors = compute_errors(model, train, "train")
    for label, configs in test_sets.items():
        errors = errors | compute_errors(model, configs, label)
    timings = {
        "reading and plan": t_plan - t0,
        **(
            {"pool Gram": t_pool_gram, "ranking": t_selection - t_pool_gram}
            if select is not None
            else {}
        ),
        "assembly": t0 + t_assembly - t_plan - t_trials - t_selection,
        **({"prior choice": t_trials} if t_trials else {}),
        "solve": t_solve - t0 - t_assembly,
        "coverage and active set": t_uncertainty - t_solve,
        "errors": time.perf_counter() - t_uncertainty,
    }
    return FitResult(
        timings=timings,
        model=model,
        errors=errors,
        solution=solution,
        n_rows=system.n_rows,
        n_train_configs=len(train),
        cost=cost,
        seconds_assembly=t_assembly,
        seconds_total=t_total,
    )


class UnderdeterminedFitWarning(UserWarning):
    """Fewer weighted observations than coefficients: the prior, not the data, sets the rest."""


def _order_weight_grid(order_weights) -> list:
    """``None``, one tuple of weights, or a list of tuples (a grid) → list of candidates."""
    if order_weights is None:
        return [None]
    items = list(order_weights)
    if items and all(isinstance(x, (list, tuple, np.ndarray)) for x in items):
        return [tuple(float(v) for v in check_order_weights(x)) for x in items]
    return [tuple(float(v) for v in check_order_weights(items))]


def _prior_label(p: float, w, with_weights: bool) -> str:
    if not with_weights:
        return str(p)
    return f"p={p:g}, w=" + ("1" if w is None else ",".join(f"{v:g}" for v in w))


def check_observations(basis: Basis, train: list[Config], weights: Weights) -> int:
    """Refuse a fit with nothing to fit, warn about an underdetermined one; returns the
    number of rows with a positive weight.

    Refused (``ValueError``): no row with a positive weight (no labels, or every weight
    zero), or no configuration with a pair of atoms inside the cutoff (every feature would
    be zero). Warned (:class:`UnderdeterminedFitWarning`): fewer weighted rows than
    coefficients, or no forces at all.
    """
    row_weights = [config_row_weights(c, weights) for c in train]
    n_rows = sum(rw.n_positive() for rw in row_weights)
    n_force = sum(
        0 if rw.forces is None else int(np.count_nonzero(rw.forces > 0)) for rw in row_weights
    )
    labelled = [
        f"{sum(getattr(c, k) is not None for c in train)} with {k}"
        for k in ("energy", "forces", "stress")
    ]
    if n_rows == 0:
        raise ValueError(
            f"nothing to fit: no training row has a positive weight ({len(train)} "
            f"configurations, {', '.join(labelled)}; weights energy={weights.energy}, "
            f"forces={weights.forces}, virial={weights.virial}, per config type "
            f"{weights.config_types or '-'}, config_weight of the files)"
        )
    if not any(len(basis.pairs(c.atoms, where=c.source).i) for c in train):
        raise ValueError(
            f"no training configuration has two atoms within the cutoff "
            f"({float(np.max(getattr(basis, 'r_cut', np.nan))):.3g} Å): every feature is zero"
        )
    if n_force == 0 and weights.forces > 0:
        warnings.warn(
            f"no training configuration has forces ({', '.join(labelled)}): the fit uses "
            f"{n_rows} energy/virial rows only (forces under another key? see --forces-key)",
            UnderdeterminedFitWarning,
            stacklevel=3,
        )
    if n_rows < len(basis):
        warnings.warn(
            f"{n_rows} weighted observations for {len(basis)} coefficients: the fit is "
            "underdetermined (the prior alone sets the rest, and a small training error "
            "says nothing); add data or use a smaller basis",
            UnderdeterminedFitWarning,
            stacklevel=3,
        )
    return n_rows


def training_uncertainty(
    basis: Basis, train: list[Config], solution: Solution, active_set_size: int
) -> Uncertainty:
    """Coverage of ``train``, the committee of ``solution`` (if any) and, for
    ``active_set_size > 0``, the active sets of the training environments per element."""
    structures = [c.atoms for c in train]
    coverage = Coverage.from_structures(basis, structures)
    committee = None if solution.committee is None else Committee(solution.committee)
    active = None
    if active_set_size > 0:
        columns = [species_columns(basis, s) for s in range(len(basis.elements))]
        blocks: dict[str, list[np.ndarray]] = {el: [] for el in basis.elements}
        for k, atoms in enumerate(structures):
            B = basis.features(atoms, where=f"training structure {k}")
            for i, el in enumerate(atoms.get_chemical_symbols()):
                blocks[el].append(B[i, columns[basis.elements.index(el)]])
        features = {el: np.array(rows) for el, rows in blocks.items() if rows}
        active = ActiveSet.from_features(features, active_set_size)
    return Uncertainty(coverage, committee, active)


def plan(train: Configs, basis: Basis, **options) -> FitCost:
    """What :func:`fit` with the same arguments would cost, without fitting: the plan it prints
    before any assembly (coefficients, rows, peak memory against what is free, seconds per
    stage and flops; :class:`~ace_ref.fit.cost.FitCost`).

    The training and test data are read and checked, and the options are validated, as
    :func:`fit` does it before its plan (``e0`` is resolved only by a fit); nothing is
    assembled. ``flop_rate=38e9`` plans for a machine whose ``dgemm`` runs at 38 GFLOP/s on
    all its threads (the design rows are still timed on this one).
    """
    options.pop("on_plan", None)
    return fit(train, basis, _stop_after_plan=True, **options)


def _summary(basis, configs, e0, weights, method, client, progress) -> LinearSystem:
    if client is None:
        return assemble(basis, configs, e0, weights, progress, method=method)
    from ace_ref.fit.distributed import distributed_assemble  # needs the [distributed] extra

    return distributed_assemble(
        basis, configs, e0, weights, client, progress=progress, method=method
    )


def _weights_text(weights: Weights) -> str:
    parts = [
        f"energy={weights.energy:g}",
        f"forces={weights.forces:g}",
        f"virial={weights.virial:g}",
    ]
    if weights.energy_per != "atom":
        parts.append(f"energy_per={weights.energy_per}")
    parts += [f"{k}={v:g}" for k, v in weights.config_types.items()]
    parts += [f"{t}:{o}={v:g}" for (t, o), v in weights.observable_types.items()]
    return ",".join(parts)
