"""Body order by inclusion–exclusion: ``V_M(S) = Σ_{T ⊆ S} (−1)^{|S|−|T|} E(T)``.

For a linear ACE model of correlation order ν, ``V_M`` vanishes for ``M > ν + 1``; for any
calculator the spectrum ``max |V_M|`` against ``M`` shows its effective body order.

What counts as zero (float64): the sum defining ``V_M(T)`` has ``2^M`` terms ``±E(U)``; its
floating-point error is bounded by about ``ε Σ_{U⊆T} |E(U)|`` (ε = 2.2e-16, one rounding
per addition, plus the calculator's own rounding of each ``E(U)``). ``V_M`` is zero when
``|V_M(T)| ≤ κ ε Σ_U |E(U)|`` for every examined ``T`` (``κ`` =
:data:`ace_ref.defaults.BODY_ORDER_ROUNDOFF_FACTOR`). A relative tolerance ``rtol`` of the
largest energy (the older rule, ``rtol · max(max_U |E(U)|, floor)``) is still available for
float32 calculators.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from ace_ref import defaults
from ace_ref._atomic_write import atomic_path
from ace_ref.verify._common import FLOORS, MAX_EVALUATIONS, CheckResult, _energy, _serial, _tol, log

__all__ = ["BodyOrderSpectrum", "body_order", "plot_body_order"]


# ---------------------------------------------------------------------- body order
@dataclass
class BodyOrderSpectrum:
    """Many-body expansion of a cluster energy (see :func:`body_order`).

    ``M[k]``, ``max_abs[k]``, ``mean_abs[k]``, ``n_subsets[k]``: the size ``M``, the largest
    and the mean ``|V_M(T)|`` over the ``n_subsets`` subsets ``T`` of that size examined.
    ``energy_scale`` is ``max_U |E(U)|`` over the evaluated subsets (eV): round-off of
    ``V_M`` is relative to it. ``roundoff[k]`` is ``ε max_T Σ_{U⊆T} |E(U)|`` over the same
    subsets: the float64 round-off scale of ``V_M`` (module docstring). ``error`` holds the
    calculator's exception message, if any.
    """

    n_atoms: int
    n_evaluations: int
    sample: int | None
    M: list[int]
    max_abs: list[float]
    mean_abs: list[float]
    n_subsets: list[int]
    energy_scale: float
    seconds: float
    error: str | None = None
    roundoff: list[float] | None = None

    def zero_tols(self, rtol: float | None = None) -> list[float]:
        """Zero threshold of every ``M``: ``κ · roundoff[k]`` (float64 rule, module docstring)
        or, given ``rtol``, ``rtol · max(energy_scale, floor)`` for all ``M``."""
        if rtol is None and self.roundoff is not None:
            k = defaults.BODY_ORDER_ROUNDOFF_FACTOR
            return [k * r for r in self.roundoff]
        return [_tol(1e-9 if rtol is None else rtol, self.energy_scale, FLOORS["energy"])] * len(
            self.M
        )

    def zero_tol(self, rtol: float | None = None) -> float:
        """The largest of :meth:`zero_tols` (one number for a report row)."""
        return max(self.zero_tols(rtol), default=0.0)

    def apparent_body_order(self, rtol: float | None = None) -> int:
        """Largest ``M`` with ``max |V_M|`` above its zero threshold (0 if none)."""
        tols = self.zero_tols(rtol)
        nonzero = [M for M, v, t in zip(self.M, self.max_abs, tols, strict=True) if v > t]
        return max(nonzero, default=0)

    def check(
        self, expected_body_order: int | None = None, rtol: float | None = None
    ) -> CheckResult:
        """Row: ``max |V_M|`` below its zero threshold for every ``M > expected_body_order``.

        Without a claim the row passes and reports the apparent body order.
        """
        details = {
            "M": self.M,
            "max_abs": self.max_abs,
            "mean_abs": self.mean_abs,
            "n_subsets": self.n_subsets,
            "energy_scale": self.energy_scale,
            "roundoff": self.roundoff,
            "zero_tols": self.zero_tols(rtol),
            "n_evaluations": self.n_evaluations,
            "sample": self.sample,
            "n_atoms": self.n_atoms,
        }
        name = f"{self.n_atoms}-atom cluster"
        if self.error is not None:
            return CheckResult("body order", name, False, message=self.error, details=details)
        tols = self.zero_tols(rtol)
        tol = max(tols, default=0.0)
        apparent = self.apparent_body_order(rtol)
        spectrum = ", ".join(f"V{M} {v:.2g}" for M, v in zip(self.M, self.max_abs, strict=True))
        if expected_body_order is None:
            return CheckResult(
                "body order",
                name,
                True,
                max(self.max_abs, default=0.0),
                self.energy_scale,
                tol,
                f"apparent body order {apparent} (nothing claimed); max |V_M|: {spectrum}",
                details,
            )
        pairs = zip(self.M, self.max_abs, tols, strict=True)
        above = [(v, t) for M, v, t in pairs if M > expected_body_order]
        err = max((v for v, _ in above), default=0.0)
        passed = all(v <= t for v, t in above)
        if above:  # the threshold of the worst M, for the row
            tol = max(above, key=lambda vt: vt[0] / vt[1] if vt[1] > 0 else math.inf)[1]
        if not above:
            msg = f"cluster too small to test above body order {expected_body_order}"
        elif passed:
            msg = f"V_M ≈ 0 for M > {expected_body_order} as claimed"
        else:
            msg = (
                f"body order {apparent} > claimed {expected_body_order}: "
                f"max |V_M| = {err:.3g} > tol {tol:.3g} for M > {expected_body_order}"
            )
        if expected_body_order in self.M:
            k = self.M.index(expected_body_order)
            if self.max_abs[k] <= tols[k]:
                msg += f" (note: V_{expected_body_order} ≈ 0 too)"
        details["expected_body_order"] = expected_body_order
        return CheckResult(
            "body order", name, passed, err, self.energy_scale, tol, f"{msg}; {spectrum}", details
        )


def _submask_patterns(M: int) -> tuple[np.ndarray, np.ndarray]:
    """Selection matrix ``(2^M, M)`` of all sub-selections and their signs ``(−1)^{M−|U|}``."""
    codes = np.arange(2**M, dtype=np.int64)
    P = (codes[:, None] >> np.arange(M)[None, :]) & 1
    signs = np.where((M - P.sum(axis=1)) % 2 == 0, 1.0, -1.0)
    return P, signs


def _sample_subsets(n: int, M: int, K: int, rng: np.random.Generator) -> np.ndarray:
    total = math.comb(n, M)
    if total <= K:
        return np.array(list(itertools.combinations(range(n), M)), dtype=np.int64)
    if total <= 50_000:
        combos = list(itertools.combinations(range(n), M))
        pick = rng.choice(total, size=K, replace=False)
        return np.array([combos[k] for k in sorted(pick)], dtype=np.int64)
    chosen: set[tuple[int, ...]] = set()
    while len(chosen) < K:
        chosen.add(tuple(sorted(rng.choice(n, size=M, replace=False).tolist())))
    return np.array(sorted(chosen), dtype=np.int64)


@_serial
def body_order(
    calc,
    cluster: Atoms,
    max_M: int | None = None,
    progress: bool = True,
    sample: int | None = None,
    seed: int = 0,
    max_evaluations: int = MAX_EVALUATIONS,
) -> BodyOrderSpectrum:
    """Many-body expansion ``E(S) = Σ_{T⊆S} V_{|T|}(T)`` of a finite cluster ``S``.

    With ``E(∅) = 0``, the ``M``-body term of a subset ``T`` (``|T| = M``) is the Möbius
    inversion

    .. math:: V_M(T) = \\sum_{U \\subseteq T} (-1)^{|T|-|U|} E(U),

    so ``V_1({i}) = E({i})`` (isolated atom). A potential of body order ``K`` (e.g. a linear
    ACE model of correlation order ``ν``, ``K = ν + 1``) has ``V_M ≡ 0`` for ``M > K``.

    Every subset energy is computed once and reused: all ``Σ_{M ≤ max_M} C(n, M)`` non-empty
    subsets (``2^n − 1`` without ``max_M``). When that exceeds ``max_evaluations`` a
    ``ValueError`` says so, unless ``sample=K``: then ``K`` subsets of each size ``M ≤ max_M``
    are drawn (seeded; all of them if fewer exist) and only their sub-subsets are evaluated.
    The number of evaluations is logged (and printed to stderr when ``progress``) before
    starting and returned as ``n_evaluations``; ``progress`` shows a tqdm bar.

    Exceptions of the calculator are returned in ``error`` (not raised); invalid arguments
    raise ``ValueError``.
    """
    if not isinstance(cluster, Atoms):
        raise TypeError(f"body_order: expected ase.Atoms, got {type(cluster).__name__}")
    n = len(cluster)
    if n == 0:
        raise ValueError("body_order: the cluster has no atoms")
    if np.any(cluster.pbc):
        raise ValueError(
            "body_order needs a finite cluster (pbc all False); cut one out of a periodic "
            "structure first"
        )
    if n > 62:
        raise ValueError(f"body_order: {n} atoms; at most 62 are supported (subset bit masks)")
    if max_M is None:
        max_M = n
    if isinstance(max_M, bool) or int(max_M) != max_M or max_M < 1:
        raise ValueError(f"max_M must be a positive integer, got {max_M!r}")
    max_M = min(int(max_M), n)
    if sample is not None and (isinstance(sample, bool) or int(sample) != sample or sample < 1):
        raise ValueError(f"sample must be a positive integer, got {sample!r}")

    bits = np.int64(1) << np.arange(n, dtype=np.int64)
    if sample is None:
        needed_count = sum(math.comb(n, M) for M in range(1, max_M + 1))
        what = "all 2^n − 1 subsets" if max_M == n else f"all subsets of ≤ {max_M} atoms"
        if needed_count > max_evaluations:
            raise ValueError(
                f"body_order: a {n}-atom cluster needs {needed_count} energy evaluations "
                f"({what}; 2^{n} = {2**n}), more than max_evaluations={max_evaluations}; "
                "pass sample=K to sample K subsets of each size, max_M to limit the subset "
                "size, or a smaller cluster"
            )
        targets = {
            M: np.array(list(itertools.combinations(range(n), M)), dtype=np.int64)
            for M in range(1, max_M + 1)
        }
        needed = np.sort(np.concatenate([bits[t].sum(axis=1) for t in targets.values()]))
    else:
        if 2**max_M > max_evaluations:
            raise ValueError(
                f"body_order: each sampled subset of {max_M} atoms needs 2^{max_M} = "
                f"{2**max_M} evaluations, more than max_evaluations={max_evaluations}; "
                "lower max_M"
            )
        rng = np.random.default_rng(seed)
        targets = {M: _sample_subsets(n, M, int(sample), rng) for M in range(1, max_M + 1)}
        masks = []
        for M, t in targets.items():
            P, _ = _submask_patterns(M)
            masks.append((bits[t] @ P.T).ravel())
        needed = np.unique(np.concatenate(masks))
        needed = needed[needed != 0]
        what = f"sub-subsets of {int(sample)} sampled subsets per size ≤ {max_M}"
        if len(needed) > max_evaluations:
            raise ValueError(
                f"body_order: sampling needs {len(needed)} energy evaluations, more than "
                f"max_evaluations={max_evaluations}; lower sample or max_M"
            )
    n_eval = len(needed)
    note = f"body_order: {n_eval} energy evaluations ({what} of a {n}-atom cluster)"
    log.info(note)
    if progress:
        print(note, file=sys.stderr)

    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    energies = np.zeros(n_eval)
    error = None
    with tqdm(total=n_eval, desc="body order", disable=not progress, leave=False) as bar:
        for k, mask in enumerate(needed.tolist()):
            idx = [i for i in range(n) if (mask >> i) & 1]
            try:
                energies[k] = _energy(calc, cluster[idx])
            except Exception as exc:  # noqa: BLE001
                error = f"calculator raised {type(exc).__name__} on the subset {idx}: {exc}"
                break
            bar.update()
    M_list, max_abs, mean_abs, n_subsets, roundoff = [], [], [], [], []
    if error is None:
        for M, t in targets.items():
            P, signs = _submask_patterns(M)
            sub = bits[t] @ P.T
            pos = np.searchsorted(needed, sub)
            E = np.where(sub == 0, 0.0, energies[np.minimum(pos, n_eval - 1)])
            V = np.abs(E @ signs)
            roundoff.append(float(np.finfo(float).eps * (np.abs(E) @ np.abs(signs)).max()))
            M_list.append(M)
            max_abs.append(float(V.max()))
            mean_abs.append(float(V.mean()))
            n_subsets.append(len(t))
    return BodyOrderSpectrum(
        n_atoms=n,
        n_evaluations=n_eval,
        sample=None if sample is None else int(sample),
        M=M_list,
        max_abs=max_abs,
        mean_abs=mean_abs,
        n_subsets=n_subsets,
        energy_scale=float(np.max(np.abs(energies))) if error is None else math.nan,
        seconds=time.perf_counter() - t0,
        error=error,
        roundoff=roundoff if error is None else None,
    )


def plot_body_order(spectrum, path: str | Path, rtol: float | None = None) -> Path:
    """PNG of ``log |V_M|`` against ``M`` (max and mean), written atomically.

    ``spectrum``: a :class:`BodyOrderSpectrum` or the ``details`` of its report row. The
    dotted line is the zero threshold of each ``M`` the check used: the float64 round-off
    bound ``κ ε max_T Σ_U |E(U)|`` (labelled so), or with ``rtol`` (or a spectrum without
    round-off data) the relative threshold ``rtol · max(energy_scale, floor)`` (labelled so).
    Exact zeros are drawn at the bottom of the axis.
    """
    if isinstance(spectrum, BodyOrderSpectrum):
        d = asdict(spectrum)
    else:
        d = dict(spectrum)
    if not d.get("M"):
        raise ValueError("no body-order spectrum to plot (the evaluation failed)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    M = np.asarray(d["M"])
    mx = np.asarray(d["max_abs"], dtype=float)
    mean = np.asarray(d["mean_abs"], dtype=float)
    if rtol is None and d.get("roundoff"):
        kappa = defaults.BODY_ORDER_ROUNDOFF_FACTOR
        levels = kappa * np.asarray(d["roundoff"], dtype=float)
        label = f"zero threshold: float64 round-off bound {kappa} ε Σ|E(U)|"
    else:
        rtol = 1e-9 if rtol is None else rtol
        levels = np.full(len(M), _tol(rtol, float(d["energy_scale"]), FLOORS["energy"]))
        label = f"zero threshold: {rtol:g} × max |E(U)|"
    positive = levels[levels > 0]
    level = float(positive.min()) if positive.size else float(np.min(mx[mx > 0], initial=1.0))
    bottom = min(level, np.min(mx[mx > 0], initial=level)) / 100
    fig, ax = plt.subplots(figsize=(5, 3.8))
    ax.semilogy(M, np.maximum(mx, bottom), "o-", label="max |V_M|")
    ax.semilogy(M, np.maximum(mean, bottom), "s--", ms=4, label="mean |V_M|")
    ax.plot(M, np.maximum(levels, bottom), color="k", ls=":", lw=1, label=label)
    if d.get("expected_body_order"):
        ax.axvline(d["expected_body_order"] + 0.5, color="r", lw=0.8, label="claimed body order")
    ax.set_ylim(bottom=bottom)
    ax.set_xticks(M)
    ax.set_xlabel("M (bodies)")
    ax.set_ylabel("|V_M| (eV)")
    title = f"{d['n_atoms']}-atom cluster"
    if d.get("sample"):
        title += f", {d['sample']} samples per M"
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)
    return path
