"""The plan printed before a fit (size, memory, time) and the data-scaled default degrees."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import ace_ref
from ace_ref import ACEBasis, defaults
from ace_ref.fit.assembly import Weights
from ace_ref.fit.cost import estimate_fit_cost, measure_flop_rate
from ace_ref.fit.data import read_configs, read_e0
from ace_ref.fit.presets import choose_degree, choose_degree_for_data, default_element_scales
from ace_ref.fit.reduction import row_counts
from tests.paths import ACAC


@pytest.mark.parametrize(
    ("elements", "order", "kwargs"),
    [
        (["Si"], 2, {"max_degree": [7, 6]}),
        (["H", "O"], 3, {"max_degree": [6, 6, 5], "w_L": Fraction(3, 5)}),
        (["H", "C", "O"], 2, {"max_n": [4, 3], "max_l": [0, 2]}),
    ],
)
def test_size_without_tables_is_the_size(elements, order, kwargs, coupling_cache):
    built = ACEBasis(elements, order, cache_dir=coupling_cache, **kwargs)
    assert ACEBasis.size(elements, order, cache_dir=coupling_cache, **kwargs) == len(built)


def test_float_degrees_are_read_as_the_simple_fraction_they_print_as():
    # 0.8 · 9.2 is 7.359999999999999 in binary; read exactly, the scaled budget was 10¹⁵ wide
    assert ACEBasis.size(["H"], 3, max_degree=[9.6, 9.6, 0.8 * 9.2]) == ACEBasis.size(
        ["H"], 3, max_degree=[Fraction(48, 5), Fraction(48, 5), Fraction(184, 25)]
    )


def test_default_degree_scales_with_the_data():
    elements = ["H", "C", "O"]
    # acetylacetone: 500 configurations × 46 rows sit at the default
    full = choose_degree(elements, 23000)
    assert full.max_degree == list(defaults.MAX_DEGREE) and full.n_coefficients == 11469
    # a fifth of the data: at most one coefficient per two rows, the largest such scale
    small = choose_degree(elements, 4600)
    assert small.n_coefficients <= 2300 and small.scale < 1
    step_up = [d * (small.scale + Fraction(1, 100)) / small.scale for d in small.max_degree]
    assert ACEBasis.size(elements, 3, max_degree=step_up) > 2300
    assert "4600 rows / 2" in small.reason
    # the fast preset is smaller, whatever the data
    assert choose_degree(elements, 10**6, preset="fast").n_coefficients == 3681
    # little memory caps it too: K ≤ sqrt(free/2 / 24)
    capped = choose_degree(elements, 10**6, available_bytes=2 * 24 * 3000**2)
    assert capped.n_coefficients <= 3000 and "free memory" in capped.reason
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        choose_degree(elements, 23000, preset="huge")
    with pytest.raises(ValueError, match="smallest default-shaped basis"):
        choose_degree(elements, 10)


def test_fit_plan_counts_rows_and_refuses_what_does_not_fit_in_memory(coupling_cache):
    train = read_configs(ACAC / "train_300K.xyz")[:12]
    basis = ACEBasis(["H", "C", "O"], 2, max_degree=[6, 5], cache_dir=coupling_cache)
    weights = Weights()
    cost = estimate_fit_cost(basis, train, weights, flop_rate=1e10)
    assert cost.n_coefficients == len(basis)
    assert cost.n_rows == int(row_counts(train, weights).sum()) == 12 * (1 + 3 * 15)
    assert cost.peak_bytes > 8 * len(basis) ** 2 and cost.total_seconds > 0
    text = cost.format()
    assert f"fit plan: {len(basis)} coefficients, {cost.n_rows} rows" in text
    assert "10 GFLOP/s" in text
    # the solve is K³ work: twice the coefficients, eight times the seconds at the same rate
    big = ACEBasis(["H", "C", "O"], 2, max_degree=[9, 8], cache_dir=coupling_cache)
    ratio = len(big) / len(basis)
    assert estimate_fit_cost(big, train, weights, flop_rate=1e10).seconds["solve"] == (
        pytest.approx(cost.seconds["solve"] * ratio**3)
    )
    plans = []
    e0 = read_e0(ACAC / "isolated_atoms.xyz")
    with pytest.raises(ValueError, match=r"needs about .* GiB .* more than the 0\.0 GiB"):
        ace_ref.fit(train, basis, e0=e0, memory_limit=1000, on_plan=plans.append)
    assert len(plans) == 1 and plans[0].n_coefficients == len(basis)
    result = ace_ref.fit(train, basis, e0=e0, memory_limit=None)
    assert result.cost is not None and "estimated" in result.summary()


def test_plan_counts_the_flops_of_every_solve_and_the_fit_reports_its_rate(coupling_cache):
    """The plan's dense work: ``2 m K²`` plus ``(2/3) K³`` per merge for the QR folds,
    ``(8/3) K³`` per solve, one solve per prior of a grid plus the final one (a grid of three
    costs four solves). After the fit, the achieved rates are those flops over the measured
    seconds, as a share of the plan's dgemm rate."""
    from ace_ref.fit.reduction import plan_partitions

    train = read_configs(ACAC / "train_300K.xyz")[:12]
    basis = ACEBasis(["H", "C", "O"], 2, max_degree=[6, 5], cache_dir=coupling_cache)
    weights = Weights()
    K = len(basis)
    one = estimate_fit_cost(basis, train, weights, flop_rate=1e10)
    merges = plan_partitions(one.n_rows, K) - 1
    m = one.n_rows - 6 * len(train)  # folded: the rigid motions' force rows are dropped
    assert one.flops["QR folds"] == pytest.approx(2 * m * K**2 + merges * 2 / 3 * K**3)
    assert one.flops["solve"] == pytest.approx(8 / 3 * K**3)
    four = estimate_fit_cost(basis, train, weights, flop_rate=1e10, solves=4)
    assert four.flops["solve"] == pytest.approx(4 * one.flops["solve"])
    assert four.seconds["solve"] == pytest.approx(4 * one.seconds["solve"])
    with pytest.raises(ValueError, match="solves must be at least 1"):
        estimate_fit_cost(basis, train, weights, flop_rate=1e10, solves=0)
    gram = estimate_fit_cost(basis, train, weights, flop_rate=1e10, assembly="normal")
    assert gram.flops == pytest.approx({"Gram": m * K**2, "solve": 9 * K**3})
    line = one.achieved(assembly_seconds=2.0, solve_seconds=0.5)
    rate_a = one.flops["QR folds"] / 2.0
    assert f"{rate_a / 1e9:.0f} GFLOP/s, {100 * rate_a / 1e10:.0f} %" in line
    assert "assembly (QR folds and design rows)" in line and "peak of 10 GFLOP/s" in line

    e0 = read_e0(ACAC / "isolated_atoms.xyz")
    result = ace_ref.fit(train, basis, e0=e0, smoothness=[1, 2, 3], memory_limit=None)
    assert result.cost.flops["solve"] == pytest.approx(4 * 8 / 3 * K**3)
    assert result.timings["prior choice"] > 0
    solves = result.timings["solve"] + result.timings["prior choice"]
    rate = result.cost.flops["solve"] / solves
    assert f"solve {result.cost.flops['solve']:.2g} flop in {solves:.3g} s" in result.achieved()
    assert f"{100 * rate / result.cost.flop_rate:.0f} %" in result.achieved()


def test_flop_rate_is_measured():
    rate = measure_flop_rate(n=256, repeats=2)
    assert np.isfinite(rate) and 1e8 < rate < 1e13


def test_degree_for_data_counts_the_rows_of_the_configurations():
    """choose_degree_for_data is choose_degree on the weighted rows of the configurations (here
    the data budget binds: 50 acac configurations, 2300 rows); weights that drop the forces
    leave 50 energy rows and refuse even the smallest default-shaped basis."""
    train = read_configs(ACAC / "train_300K.xyz")[:50]
    rows = int(row_counts(train, Weights()).sum())
    assert rows == 50 * (1 + 3 * 15)
    chosen = choose_degree_for_data(train, ["H", "C", "O"], preset="fast")
    budgets = {"H": Fraction(4, 5), "C": Fraction(11, 10)}  # the default per-element budgets
    assert chosen.element_degree_scale == budgets
    assert chosen == choose_degree(
        ["H", "C", "O"], rows, preset="fast", element_degree_scale=budgets
    )
    assert chosen.n_coefficients <= rows / defaults.ROWS_PER_COEFFICIENT
    assert chosen.n_coefficients == ACEBasis.size(
        ["H", "C", "O"], 3, max_degree=chosen.max_degree, element_degree_scale=budgets
    )
    plain = choose_degree_for_data(train, ["H", "C", "O"], preset="fast", element_degree_scale=None)
    assert plain == choose_degree(["H", "C", "O"], rows, preset="fast")
    with pytest.raises(ValueError, match="exceeds the budget of 25"):
        choose_degree_for_data(train, ["H", "C", "O"], Weights(forces=0.0))


def test_default_element_budgets_name_only_the_elements_present():
    assert default_element_scales(["H", "C", "N", "O"]) == {
        "H": Fraction(4, 5),
        "C": Fraction(11, 10),
    }
    assert default_element_scales(["C", "O"]) == {"C": Fraction(11, 10)}
    assert default_element_scales(["Ta"]) is None and default_element_scales(["O", "N"]) is None
    with pytest.raises(ValueError, match="must be a dict, None or 'default'"):
        choose_degree_for_data([], ["H"], element_degree_scale="uniform")


def test_choose_selection_keeps_one_function_per_rows_of_the_data():
    from ace_ref import defaults
    from ace_ref.fit.presets import choose_selection, parse_select

    per = defaults.ROWS_PER_SELECTED_FUNCTION
    assert per == 4
    assert defaults.SELECT_POOL_FRACTION == Fraction(1, 3)
    assert choose_selection(23000, 11046) == 3682  # the quick start: a third of the pool
    assert choose_selection(32800, 32070) == 8200  # 3BPA, one fold: one per 4 rows
    assert choose_selection(13, 100) == 3
    assert choose_selection(13, 2) == 1
    with pytest.raises(ValueError, match="need n_rows ≥ 1 and pool_size ≥ 2"):
        choose_selection(0, 10)
    assert parse_select(None) is None and parse_select("none") is None
    assert parse_select("AUTO") == "auto" and parse_select(" 250 ") == 250
    for bad, message in (("abc", "takes a number of functions, 'auto' or 'none'"),
                         ("0", "positive number of functions, got 0"),
                         ("2.5", "takes a number of functions")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            parse_select(bad)


def test_a_pool_for_selection_has_the_larger_data_budget():
    """One pool function per row (defaults.ROWS_PER_POOL_FUNCTION) instead of one coefficient
    per two rows, and memory for one Gram matrix: 3BPA's 400 training configurations keep
    the unscaled default degrees."""
    elements = ["H", "C", "N", "O"]
    scales = {"H": Fraction(4, 5), "C": Fraction(11, 10)}
    whole = choose_degree(elements, 32800, element_degree_scale=scales)
    pool = choose_degree(elements, 32800, element_degree_scale=scales, for_selection=True)
    assert whole.n_coefficients <= 32800 / defaults.ROWS_PER_COEFFICIENT < 32070
    assert pool.scale == 1 and pool.n_coefficients == 32070
    # the memory budget counts 8 bytes per K² for a pool, 24 for a basis fitted whole
    small = choose_degree(elements, 32800, element_degree_scale=scales, for_selection=True,
                          available_bytes=2 * 8 * 20000**2)  # fmt: skip
    assert small.n_coefficients <= 20000 and "free memory" in small.reason


def test_resolve_select_follows_the_command_line_rules(coupling_cache):
    """``--select`` as ``ace-ref fit`` reads it: auto only where the degrees come from the
    data, nothing where the basis is too small to choose beyond its pair functions."""
    from ace_ref.fit.presets import resolve_select, selects
    from tests.structures import emt_configs

    configs = emt_configs(np.random.default_rng(2), 12, "CuCuAl", box=3.2, min_distance=2.0)
    weights = Weights.parse(defaults.WEIGHTS)
    basis = ACEBasis(["Al", "Cu"], 3, max_degree=[6, 6, 5], r_cut=4.0, cache_dir=coupling_cache)
    pairs = int(np.isin(basis.column_orders(), defaults.SELECT_KEEP_ORDERS).sum())
    assert resolve_select(None, configs, weights, basis, False) == (None, "")
    assert resolve_select("none", configs, weights, basis, True) == (None, "")
    assert resolve_select("40", configs, weights, basis, False)[0] == 40
    k, line = resolve_select(None, configs, weights, basis, True)
    rows = int(row_counts(configs, weights).sum())
    expected = min(round(rows / 4), len(basis) // 3)
    assert expected > pairs  # 12 configurations: enough rows to choose beyond the pairs
    assert k == expected and f"keep {k} of the {len(basis)} functions" in line
    few = configs[:2]  # too few rows: the choice would keep no more than the pair functions
    assert min(round(int(row_counts(few, weights).sum()) / 4), len(basis) // 3) <= pairs
    k, line = resolve_select(None, few, weights, basis, True)
    assert k is None and "too small to choose from" in line
    assert selects(None) and selects("auto") and selects("12") and not selects("none")


def test_ranking_rows_cap_the_cost_of_the_pool_gram(coupling_cache, monkeypatch):
    """``--ranking-rows auto``: every row while the pool's Gram summary costs at most
    ``defaults.RANKING_GRAM_FLOPS``, otherwise as many rows as that allows; a number is
    taken as given, and refused without selection."""
    from ace_ref.fit.presets import choose_ranking_rows, parse_ranking_rows, resolve_ranking_rows
    from tests.structures import emt_configs

    cap = defaults.RANKING_GRAM_FLOPS
    assert choose_ranking_rows(23000, 11046) is None  # acetylacetone: 2.8e12 flops
    rows = choose_ranking_rows(32800, 32070)  # a 3BPA fold: 3.4e13 flops
    assert rows * 32070**2 <= cap < (rows + 1) * 32070**2
    assert choose_ranking_rows(10**9, 10**8) == 1
    assert parse_ranking_rows(None) == "auto" == parse_ranking_rows(" Auto ")
    assert parse_ranking_rows("all") is None and parse_ranking_rows("1200") == 1200
    for bad, message in (("0", "positive number"), ("half", "'auto' or 'all'")):
        with pytest.raises(ValueError, match=message):
            parse_ranking_rows(bad)
    configs = emt_configs(np.random.default_rng(2), 12, "CuCuAl", box=3.2, min_distance=2.0)
    weights = Weights.parse(defaults.WEIGHTS)
    basis = ACEBasis(["Al", "Cu"], 3, max_degree=[6, 6, 5], r_cut=4.0, cache_dir=coupling_cache)
    n_rows = int(row_counts(configs, weights).sum())
    assert resolve_ranking_rows(None, 40, configs, weights, basis) == (None, "")  # small: all
    assert resolve_ranking_rows(None, None, configs, weights, basis) == (None, "")
    assert resolve_ranking_rows("all", None, configs, weights, basis) == (None, "")
    rows, line = resolve_ranking_rows("50", 40, configs, weights, basis)
    assert rows == 50 and f"ranking on 50 of the {n_rows} rows" in line
    assert resolve_ranking_rows(str(n_rows), 40, configs, weights, basis) == (None, "")
    with pytest.raises(ValueError, match="goes with greedy selection"):
        resolve_ranking_rows("50", None, configs, weights, basis)
    # where the cap bites, --preset accurate ranks on every row; a number given still counts
    small_cap = 0.5 * n_rows * len(basis) ** 2
    monkeypatch.setattr(defaults, "RANKING_GRAM_FLOPS", small_cap)
    rows, line = resolve_ranking_rows(None, 40, configs, weights, basis)
    assert rows == choose_ranking_rows(n_rows, len(basis)) < n_rows and "within" in line
    rows, line = resolve_ranking_rows(None, 40, configs, weights, basis, "accurate")
    assert rows is None and f"every one of the {n_rows} rows (--preset accurate" in line
    assert resolve_ranking_rows("50", 40, configs, weights, basis, "accurate")[0] == 50


def test_plan_is_the_fits_plan_without_the_fit(coupling_cache, monkeypatch):
    """``ace_ref.fit.plan`` returns the estimate :func:`fit` prints, at a given dgemm rate,
    and assembles nothing."""
    import ace_ref.fit.pipeline as pipeline
    from tests.structures import emt_configs

    configs = emt_configs(np.random.default_rng(5), 30, "CuCuCuAlAl", box=3.5, min_distance=2.0)
    basis = ACEBasis(["Al", "Cu"], 3, max_degree=[6, 6, 5], r_cut=4.0, cache_dir=coupling_cache)
    printed = []
    fitted = ace_ref.fit(configs, basis, e0={"Al": 0.0, "Cu": 0.0}, select=30, ranking_rows=200,
                         flop_rate=38e9, on_plan=printed.append, committee_size=0,
                         active_set_size=0)  # fmt: skip

    def no_assembly(*args, **kwargs):
        raise AssertionError("plan must not assemble")

    monkeypatch.setattr(pipeline, "_summary", no_assembly)
    cost = ace_ref.fit.plan(configs, basis, e0={"Al": 0.0, "Cu": 0.0}, select=30,
                            ranking_rows=200, flop_rate=38e9, committee_size=0,
                            active_set_size=0)  # fmt: skip
    assert cost.flops == printed[0].flops == fitted.cost.flops
    assert "active set" not in cost.flops
    # with active sets: one Gram matrix per element over its environments, on the element's
    # share (30 of the pool's functions) of its block
    with_active = ace_ref.fit.plan(configs, basis, select=30, ranking_rows=200, flop_rate=38e9)
    share = 30 / len(basis)
    n_env = {"Al": 2 * len(configs), "Cu": 3 * len(configs)}
    expected = sum(
        n_env[el] * (len(basis.species_columns(s)) * share) ** 2
        for s, el in enumerate(basis.elements)
    )
    assert with_active.flops["active set"] == pytest.approx(expected, rel=1e-12)
    assert with_active.seconds["errors and active set"] > expected / 38e9
    assert cost.flop_rate == 38e9 and cost.flop_rate_given
    assert cost.pool_coefficients == len(basis) and cost.n_coefficients == 30
    assert "at the given dgemm rate 38 GFLOP/s" in cost.format()
    assert "against the given dgemm peak of 38 GFLOP/s" in fitted.achieved()
    with pytest.raises(ValueError, match="select must be a whole number"):
        ace_ref.fit.plan(configs, basis, select=len(basis))
    with pytest.raises(ValueError, match="ranking_rows goes with greedy selection"):
        ace_ref.fit.plan(configs, basis, ranking_rows=100)
    for bad in (0.0, -1e9, float("nan")):
        with pytest.raises(ValueError, match="flop_rate must be a positive number"):
            ace_ref.fit.plan(configs, basis, flop_rate=bad)


def test_cli_plan_only_writes_nothing(tmp_path):
    import subprocess
    import sys

    from tests.structures import emt_configs, write_labelled_xyz

    configs = emt_configs(np.random.default_rng(6), 8, "CuCuAl", box=3.2, min_distance=2.0)
    write_labelled_xyz(tmp_path / "train.xyz", configs)
    out = subprocess.run(
        [sys.executable, "-m", "ace_ref.cli", "fit", str(tmp_path / "train.xyz"),
         "--e0", "Al=0,Cu=0", "--degree", "5,5,3", "--rcut", "4.0", "--plan-only",
         "--flop-rate", "38"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "fit plan:" in out.stdout and "at the given dgemm rate 38 GFLOP/s" in out.stdout
    assert "--plan-only: nothing assembled, no model written" in out.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.xyz"]
