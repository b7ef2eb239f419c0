"""Error reports: RMSE and MAE of energies, forces and stresses, per file and per config type.

For a set of configurations ``c`` with reference energies ``E_c``, forces ``F_c`` and stresses
``σ_c`` and a model's predictions ``Ê, F̂, σ̂``:

* energy RMSE ``sqrt(mean_c (Ê_c − E_c)²)`` in meV, and per atom ``(Ê_c − E_c)/N_c`` in meV/atom;
* force RMSE over every component ``sqrt(mean_{c,i,a} (F̂_cia − F_cia)²)`` in meV/Å;
* stress RMSE over every component in GPa (periodic configurations only);

and the mean absolute errors likewise. Rows are keyed ``LABEL`` (all configurations) and
``LABEL::CONFIG_TYPE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase.units import GPa

from ace_ref.fit.data import Config

__all__ = [
    "ErrorReport",
    "assess_configs",
    "compute_errors",
    "predict_all",
    "rank_signals",
    "ranking",
]

_COLUMNS = (
    "energy_rmse_meV",
    "energy_mae_meV",
    "energy_rmse_meV_per_atom",
    "energy_mae_meV_per_atom",
    "forces_rmse_meV_per_A",
    "forces_mae_meV_per_A",
    "stress_rmse_GPa",
    "stress_mae_GPa",
)


def predict_all(model, configs: list[Config]) -> list[dict]:
    """``model.predict`` of every configuration (computed once, shared by tables and plots)."""
    return [model.predict(c.atoms, where=c.source) for c in configs]


@dataclass
class ErrorReport:
    """Error rows keyed ``LABEL`` and ``LABEL::CONFIG_TYPE`` (see module docstring).

    Each row maps ``n_configs`` and the keys of ``energy_rmse_meV`` … ``stress_mae_GPa`` to a
    number, or ``None`` where the data have no such observable. Reports of several sets are
    joined with ``|``; ``str(report)`` is the table ``ace-ref fit`` and ``ace-ref eval`` print.
    """

    rows: dict[str, dict] = field(default_factory=dict)

    def __or__(self, other: ErrorReport) -> ErrorReport:
        return ErrorReport({**self.rows, **other.rows})

    def __getitem__(self, key: str) -> dict:
        return self.rows[key]

    def sets(self) -> dict[str, dict]:
        """Rows of whole sets (keys without ``::``)."""
        return {k: r for k, r in self.rows.items() if "::" not in k}

    def config_types(self) -> dict[str, dict]:
        """Rows of one config type of one set (keys ``LABEL::TYPE``)."""
        return {k: r for k, r in self.rows.items() if "::" in k}

    def to_dict(self) -> dict:
        """Plain data: ``{"files": {...}, "config_types": {...}}`` (the ``eval --json`` form)."""
        return {"files": self.sets(), "config_types": self.config_types()}

    def format(self) -> str:
        """The fixed-width table (meV, meV/atom, meV/Å, GPa)."""

        def fmt(x, w=9):
            return f"{x:>{w}.3f}" if x is not None else f"{'-':>{w}}"

        lines = [
            f"{'set':<34} {'E rmse':>9} {'E mae':>9} {'E/at rmse':>9} {'F rmse':>9} "
            f"{'F mae':>9} {'σ rmse':>9}",
            f"{'':<34} {'meV':>9} {'meV':>9} {'meV/at':>9} {'meV/Å':>9} {'meV/Å':>9} {'GPa':>9}",
        ]
        for key, r in self.rows.items():
            lines.append(
                f"{key:<34} {fmt(r['energy_rmse_meV'])} {fmt(r['energy_mae_meV'])} "
                f"{fmt(r['energy_rmse_meV_per_atom'])} {fmt(r['forces_rmse_meV_per_A'])} "
                f"{fmt(r['forces_mae_meV_per_A'])} {fmt(r['stress_rmse_GPa'])}"
            )
        return "\n".join(lines)

    __str__ = format


def _stats(values: list, scale: float) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    v = np.asarray(values) * scale
    return float(np.sqrt(np.mean(v**2))), float(np.mean(np.abs(v)))


def compute_errors(
    model, configs: list[Config], label: str, predictions: list[dict] | None = None
) -> ErrorReport:
    """Errors of ``model`` (anything with ``predict(atoms, where=...)``) on ``configs``.

    ``predictions`` (from :func:`predict_all`) may be passed to avoid predicting twice.
    """
    if predictions is None:
        predictions = predict_all(model, configs)
    groups: dict[str, dict[str, list]] = {}
    for c, out in zip(configs, predictions, strict=True):
        for key in (label, f"{label}::{c.config_type}"):
            g = groups.setdefault(key, {"e": [], "ea": [], "f": [], "s": []})
            if c.energy is not None:
                g["e"].append(out["energy"] - c.energy)
                g["ea"].append((out["energy"] - c.energy) / len(c.atoms))
            if c.forces is not None:
                g["f"].extend((out["forces"] - c.forces).ravel())
            if c.stress is not None and "stress" in out:
                g["s"].extend(((out["stress"] - c.stress) / GPa).ravel())
    rows = {}
    for key, g in groups.items():
        values = (
            *_stats(g["e"], 1000),
            *_stats(g["ea"], 1000),
            *_stats(g["f"], 1000),
            *_stats(g["s"], 1),
        )
        rows[key] = {"n_configs": len(g["e"]) or None, **dict(zip(_COLUMNS, values, strict=True))}
    return ErrorReport(rows)


def assess_configs(
    model, configs: list[Config], predictions: list[dict] | None = None, full: bool = True
) -> list[dict]:
    """Per configuration: the true errors next to what the model says of its reliability.

    Every row has ``source``, ``config_type``, ``energy_error_meV``, ``forces_rmse_meV_per_A``
    (where the data have them) and ``n_pairs_outside`` (pairs outside the trained distance
    range); with ``full`` also ``energy_std_meV``, ``forces_std_max_meV_per_A`` (committee) and
    ``max_extrapolation_grade`` (γ), for the signals the model carries.
    """
    u = getattr(model, "uncertainty", None)
    if predictions is None:
        predictions = predict_all(model, configs)
    rows = []
    for c, out in zip(configs, predictions, strict=True):
        row: dict = {"source": c.source, "config_type": c.config_type}
        if c.energy is not None:
            row["energy_error_meV"] = 1000 * (out["energy"] - c.energy)
        if c.forces is not None:
            rmse = np.sqrt(np.mean((out["forces"] - c.forces) ** 2))
            row["forces_rmse_meV_per_A"] = 1000 * float(rmse)
        a: dict = {}
        if full and u is not None:
            a = u.assess(model.basis, c.atoms, c.source)  # coverage, committee and γ at once
        elif u is not None and u.coverage is not None:
            a = {"outside": u.coverage.outside(model.basis, c.atoms, c.source)}
        if "outside" in a:
            row["n_pairs_outside"] = len(a["outside"])
        if a:
            if "energy_std" in a:
                row["energy_std_meV"] = 1000 * a["energy_std"]
                row["forces_std_max_meV_per_A"] = 1000 * float(np.max(a["forces_std"]))
            if "max_extrapolation_grade" in a:
                row["max_extrapolation_grade"] = a["max_extrapolation_grade"]
        rows.append(row)
    return rows


def ranking(signal: np.ndarray, error: np.ndarray, share: float = 0.05) -> dict:
    """How well ``signal`` ranks ``error``: Spearman's rank correlation, and the fraction of
    the ``share`` largest errors found among the ``share`` largest signals."""
    from scipy.stats import spearmanr

    signal, error = np.asarray(signal, float), np.asarray(error, float)
    n = max(1, int(round(share * len(error))))
    worst = set(np.argsort(error)[-n:])
    flagged = set(np.argsort(signal)[-n:])
    return {
        "spearman": float(spearmanr(signal, error).statistic),
        "top_share": share,
        "n_top": n,
        "caught": len(worst & flagged) / n,
    }


SIGNALS = {
    "energy_std_meV": "energy_error_meV",
    "forces_std_max_meV_per_A": "forces_rmse_meV_per_A",
    "max_extrapolation_grade": "forces_rmse_meV_per_A",
}
"""Which true error each uncertainty signal of :func:`assess_configs` is ranked against."""


def rank_signals(rows: list[dict], share: float = 0.05) -> dict:
    """:func:`ranking` of every signal in ``rows`` against its error (|error| for energies)."""
    out = {}
    for signal, error in SIGNALS.items():
        pairs = [(r[signal], abs(r[error])) for r in rows if signal in r and error in r]
        if len(pairs) >= 2:
            s, e = np.array(pairs).T
            out[f"{signal} vs {error}"] = ranking(s, e, share)
    return out
