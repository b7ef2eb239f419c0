"""The benchmark harness (``benchmarks/run_all.py``) must not rot: its markdown writer on fake
results, and one tiny real measurement through the same subprocess path the suite uses."""

from __future__ import annotations

import sys

import pytest

from tests.paths import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import run_all  # noqa: E402


def _t(*values):
    return {"min": min(values), "median": sorted(values)[len(values) // 2], "samples": list(values)}


def _tree():
    return {
        "nodes_per_atom": 16000.0,
        "internal_nodes_per_atom": 2400.0,
        "n_nodes_total": 16000,
        "n_products": 14000,
        "neighbours_per_atom": 28.0,
        "n_max": 8,
        "l_max": 6,
        "n_lm": 49,
        "slots_used_per_species": 296,
        "n_species": 1,
    }


MACHINE = {
    "piece": "machine",
    "label": "machine",
    "params": {},
    "peak_rss_mb": 300.0,
    "baseline_rss_mb": 150.0,
    "loadavg_start": [3.5, 3, 3],
    "loadavg_end": [4.0, 3, 3],
    "result": {
        "cpu": "Test CPU",
        "cpu_flags": ["avx2"],
        "logical_cpus": 2,
        "memory_gib": 24.0,
        "python": "3.11",
        "versions": dict.fromkeys(
            ("numpy", "scipy", "numba", "ase", "vesin", "python-ace", "featomic"), "1.0"
        ),
        "blas": [{"internal_api": "openblas", "version": "0.3", "num_threads": 2}],
        "git": {"commit": "abc1234", "branch": "bench", "dirty": False},
        "dgemm_gflops": {"1": 50.0, "2": 90.0},
        "copy_gbs_1thread": 10.0,
        "triad_gbs_1thread": 8.0,
        "triad_gbs_2threads": 12.0,
    },
}


def _rec(piece, result, params=None, **kw):
    r = {
        "piece": piece,
        "label": piece,
        "params": params or {},
        "result": result,
        "peak_rss_mb": 400.0,
        "baseline_rss_mb": 150.0,
        "loadavg_start": [3.0, 3, 3],
        "loadavg_end": [3.2, 3, 3],
        "process_wall_s": 2.0,
    }
    r.update(kw)
    return r


def fake_results():
    ef = {
        "structure": "Si64",
        "spec": "si703",
        "n_atoms": 64,
        "n_configs": 1,
        "min_distance": 2.2,
        "n_functions": 703,
        "tree": _tree(),
        "times": {
            "ours1": _t(6e-5, 7e-5),
            "ours2": _t(4e-5, 5e-5),
            "pyace_B": _t(2e-4, 2.1e-4),
            "pyace_recursive": _t(8e-5, 9e-5),
            "split_prepare": _t(1e-5, 1e-5),
            "split_zero": _t(2e-5, 2e-5),
        },
    }
    cho = dict(ef, structure="CHO64", spec="cho3", n_functions=42579)
    cho["times"] = dict(ef["times"], ours1=_t(2e-5, 2e-5))
    fe_case = {
        "structure": "Si64",
        "n_atoms": 64,
        "n_configs": 1,
        "elements": ["Si"],
        "ours_nu2_functions_per_species": 252,
        "tabulated_max_abs_dev_A": 5e-8,
        "max_abs_A": 0.8,
        "featomic_ps_properties_per_species_pair": 448,
        "A": {"ours": _t(1e-4, 1e-4), "featomic_gto": _t(3e-4), "featomic_tabulated": _t(3e-4)},
        "PS": {"ours": _t(5e-4), "featomic_gto": _t(1e-3), "featomic_tabulated": _t(9e-4)},
    }
    asm = {"n_configs": 500, "n_rows": 23000, "n_columns": 5835, "basis_s": 1.0}
    records = [
        MACHINE,
        _rec("ef", ef),
        _rec("ef", cho),
        _rec("ef_mem", ef, {"structure": "Si64", "spec": "si703", "impl": "ours1"}),
        _rec("featomic", {"threads": 1, "cases": [fe_case]}),
        _rec("featomic_mem", {"threads": 1, "cases": []}, {"impl": "ours", "what": "A"}),
        _rec("coupling_ours", {"seconds": 1.4, "n_functions": 42579, "cache_was_empty": True}),
        _rec("coupling_ours", {"seconds": 0.7, "n_functions": 42579, "cache_was_empty": False}),
        _rec(
            "coupling_pyace",
            {
                "seconds": 2.5,
                "config_s": 1.3,
                "bbasis_s": 0.7,
                "ctilde_s": 0.5,
                "n_functions": 42579,
            },
        ),  # fmt: skip
        _rec(
            "coupling_fitsnap",
            {"seconds": 210.0, "n_functions": 42579, "peak_rss_mb": 600.0, "fitsnap3": "3.1"},
            {"cold": True},
        ),
        _rec(
            "assembly",
            dict(
                asm,
                total_s=60.0,
                rows_s=40.0,
                fold_s=20.0,
                numba_threads=1,
                summary_sha256="ab" * 32,
            ),
        ),  # fmt: skip
        _rec(
            "assembly",
            dict(
                asm,
                total_s=50.0,
                rows_s=30.0,
                fold_s=20.0,
                numba_threads=2,
                summary_sha256="ab" * 32,
            ),
        ),  # fmt: skip
        {"piece": "ef", "label": "ef acac cho3", "params": {}, "error": "Trace\nValueError: x"},
    ]
    meta = {
        "date": "2026-01-01 00:00",
        "command": "python benchmarks/run_all.py",
        "quick": False,
        "wall_s": 60.0,
        "json": "benchmarks/results.json",
    }
    return {"meta": meta, "records": records}


def test_render_and_write_section(tmp_path):
    text = run_all.render(fake_results())
    assert text.startswith(run_all.BEGIN) and text.rstrip().endswith(run_all.END)
    # paired per-round ratio: ours1 / recursive = 6e-5/8e-5 and 7e-5/9e-5 -> median 0.764
    assert "| E+F Si64 si703: ours (1 thr) / pyace recursive | ≤ 0.5 | 0.764 | **missed** |" in text
    assert "E+F CHO64 cho3" in text and "**met**" in text
    assert "**Target missed: Si64 si703**" in text and "Roofline" in text
    assert "| 2 | 1 | 30.0 | 50.0 | 1.20 | abababababab | 400 |" in text  # speed-up 60 / 50
    assert "same summary bit for bit" in text
    assert "assembly 2-thread speed-up" in text and "only its panel factorisations" in text
    assert "FitSNAP 3.1 sym_ACE | cold | 210.0" in text
    assert "ef acac cho3: `ValueError: x`" in text
    assert "load average 3.0–4.0" in text

    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nhand-written text\n")
    run_all.write_section(md, text)
    first = md.read_text()
    assert first.startswith("# Benchmarks\n\nhand-written text\n\n" + run_all.BEGIN)
    md.write_text(first + "\n## Later section\nkept\n")
    run_all.write_section(md, text.replace("Test CPU", "Other CPU"))
    second = md.read_text()
    assert second.count(run_all.BEGIN) == 1 and second.count(run_all.END) == 1
    assert "Other CPU" in second and "Test CPU" not in second
    assert second.startswith("# Benchmarks\n\nhand-written text\n")
    assert second.endswith("\n## Later section\nkept\n")


def test_tiny_real_measurement():
    """One energy+forces timing of ours on Si64 (703 functions) in a subprocess, rendered."""
    pytest.importorskip("vesin")
    rec = run_all.run_piece(
        "ef",
        {"structure": "Si64", "spec": "si703", "repeats": 1, "min_time": 0.0, "quick": True,
         "impls": ["ours1"]},
        run_all.thread_env(1),
        "test ef",
        log=lambda *_: None,
    )  # fmt: skip
    assert "error" not in rec, rec.get("error")
    res = rec["result"]
    assert res["n_functions"] == 703 and res["n_atoms"] == 64
    assert 0 < res["times"]["ours1"]["min"] < 0.05  # s per atom
    assert rec["peak_rss_mb"] >= rec["baseline_rss_mb"] > 0
    assert rec["threads"]["NUMBA_NUM_THREADS"] == "1"
    text = run_all.render({"meta": fake_results()["meta"], "records": [MACHINE, rec]})
    assert "| Si64 (diamond, rattled) | 64 | Si, order 3" in text


BENCHMARK_SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("name", BENCHMARK_SCRIPTS)
def test_every_benchmark_script_imports_against_the_current_library(name):
    """A benchmark that imports a name the library no longer has (``bpa_cv.py`` imported
    ``ace_ref.cli.error_table`` long after it was gone) fails here, not on the day it is run.
    Scripts whose optional peers (pyace, featomic, FitSNAP, …) are missing are skipped."""
    import importlib

    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith("ace_ref"):
            pytest.skip(f"{name}: optional dependency {exc.name} not installed")
        raise


def test_slow_machine_stops_the_command_for_the_rest_of_each_period():
    """``benchmarks/slow_machine.py`` emulates a slower machine by stopping the command's
    threads for ``1 − fraction`` of every period. A child that spins for 0.6 s of wall time
    while throttled to a quarter must get at most about a quarter of it as CPU time (other load
    on the machine only lowers that share); its exit code is passed through."""
    import time as _time

    import slow_machine

    child = (
        "import os, sys, time; t0 = time.perf_counter()\n"
        "while time.perf_counter() - t0 < 0.6: pass\n"
        "cpu = os.times(); sys.exit(int(100 * (cpu.user + cpu.system) / 0.6))"
    )
    t0 = _time.perf_counter()
    percent, wall = slow_machine.run_throttled([sys.executable, "-c", child], 0.25)
    assert wall >= 0.6 and _time.perf_counter() - t0 >= 0.6
    assert percent <= 40, f"the child had {percent} % of a core while throttled to 25 %"
    rc, _ = slow_machine.run_throttled([sys.executable, "-c", "raise SystemExit(3)"], 1.0)
    assert rc == 3
    with pytest.raises(ValueError, match="fraction"):
        slow_machine.run_throttled([sys.executable, "-c", "pass"], 1.5)
