"""Partitioned assembly: in-process and on a 2-worker Dask ``LocalCluster`` on loopback,
including a worker killed mid-fit (issue 8)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import ace_ref
from ace_ref import ACEBasis
from ace_ref.cli import main
from ace_ref.fit.assembly import Weights, assemble, config_rows, merge, summarise
from ace_ref.fit.data import read_configs, read_e0
from ace_ref.fit.distributed import (
    PARTITION_KEY,
    PackedConfigs,
    PackedTriangle,
    _partition_summary,
    distributed_assemble,
)
from ace_ref.fit.reduction import partition_bounds, row_counts
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel
from ace_ref.models.load import load
from tests.paths import ACAC

FIELDS = ("R", "z", "G", "b")


@pytest.fixture(scope="module")
def problem(coupling_cache):
    configs = read_configs(ACAC / "train_300K.xyz")[:120]
    e0 = read_e0(ACAC / "isolated_atoms.xyz")
    basis = ACEBasis(
        ["H", "C", "O"],
        order=3,
        max_degree=[6, 6, 4],
        w_L=Fraction(3, 2),
        r_cut=4.0,
        cache_dir=coupling_cache,
    )
    return basis, configs, e0


def _bitwise_equal(a, b) -> bool:
    same = [
        np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS if getattr(a, f) is not None
    ]
    return all(same) and a.yy == b.yy and a.n_rows == b.n_rows and a.n_configs == b.n_configs


def _relative(c, ref) -> float:
    return float(np.max(np.abs(c - ref)) / np.max(np.abs(ref)))


# ---------------------------------------------------------------- without Dask


def test_packed_configs_give_the_same_rows(problem, tmp_path):
    basis, configs, e0 = problem
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    si = bulk("Si", "diamond", a=5.43, cubic=True)
    si.rattle(0.05, seed=1)
    si.arrays["force_weights"] = np.linspace(0.5, 1.5, len(si))
    si.info["config_weight"] = 2.0
    si.info["config_type"] = "bulk"
    stress = np.array([0.1, 0.2, 0.3, 0.01, 0.02, 0.03])
    si.calc = SinglePointCalculator(si, energy=-1.0, forces=np.ones((len(si), 3)), stress=stress)
    write(tmp_path / "si.xyz", si, format="extxyz")
    si_configs = read_configs(tmp_path / "si.xyz", require=("energy", "forces", "stress"))
    mixed = [configs[0], *si_configs, configs[1]]
    mixed[2].forces = None  # a configuration without forces
    back = PackedConfigs.pack(mixed).unpack()
    assert len(back) == 3
    si_basis = ACEBasis(["Si"], order=2, max_n=[3, 2], max_l=[0, 1], r_cut=4.0, cache_dir=None)
    for a, b in zip(mixed, back, strict=True):
        assert (a.config_type, a.weight, a.source) == (b.config_type, b.weight, b.source)
        for field in ("energy", "forces", "stress", "force_weights"):
            x, y = getattr(a, field), getattr(b, field)
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_array_equal(x, y)
        use = si_basis if "Si" in a.atoms.get_chemical_symbols() else basis
        e = {"Si": 0.5, **e0}
        rows_a, rows_b = config_rows(use, a, e, Weights()), config_rows(use, b, e, Weights())
        for u, v in zip(rows_a, rows_b, strict=True):
            np.testing.assert_array_equal(u, v)


def test_qr_partitions_travel_as_packed_triangles(problem):
    """A QR partition task returns only the upper triangle (K(K+1)/2 numbers), and packing
    loses nothing: unpacked it is bitwise the in-process summary of the same rows."""
    basis, configs, e0 = problem
    part = configs[:10]
    packed = _partition_summary(basis, PackedConfigs.pack(part), e0, Weights(), "qr", None)
    assert isinstance(packed, PackedTriangle)
    K = len(basis)
    assert packed.upper.shape == (K * (K + 1) // 2,)
    with threadpool_limits(limits=1):  # as assemble() folds: single-threaded LAPACK
        direct = summarise(basis, part, e0, Weights(), "qr")
    back = packed.unpack()
    for name in ("R", "z"):
        np.testing.assert_array_equal(getattr(back, name), getattr(direct, name))
    assert (back.yy, back.n_rows, back.n_configs) == (direct.yy, direct.n_rows, direct.n_configs)
    normal = _partition_summary(basis, PackedConfigs.pack(part), e0, Weights(), "normal", None)
    assert not isinstance(normal, PackedTriangle)


def test_partitions_are_contiguous_balanced_and_never_empty():
    rows = np.array([46] * 10 + [1000] + [46] * 10)
    for p in (1, 2, 3, 7, 21, 40):
        bounds = partition_bounds(rows, p)
        assert len(bounds) == min(p, len(rows))
        assert bounds[0][0] == 0 and bounds[-1][1] == len(rows)
        assert all(a < b for a, b in bounds)
        assert all(bounds[i][1] == bounds[i + 1][0] for i in range(len(bounds) - 1))
    even = np.full(100, 46)
    sums = [even[a:b].sum() for a, b in partition_bounds(even, 4)]
    assert max(sums) - min(sums) <= 46
    with pytest.raises(ValueError, match="at least 1"):
        partition_bounds(rows, 0)


@pytest.mark.parametrize("method", ["qr", "normal"])
def test_partitioned_summary_equals_serial(problem, method):
    basis, configs, e0 = problem
    serial = assemble(basis, configs, e0, progress=False, method=method)
    counts = row_counts(configs, Weights())
    assert counts.sum() == serial.n_rows
    # default partitions: the plan of the serial assembly, so bitwise its summary
    default = distributed_assemble(basis, configs, e0, progress=False, method=method)
    assert _bitwise_equal(default, serial)
    gamma = smoothness_prior(basis, 2.0)
    ref = solve(serial, "ridge", gamma, lam=1e-6).coefficients
    for p in (1, 3, 9):
        part = distributed_assemble(basis, configs, e0, partitions=p, progress=False, method=method)
        assert (part.n_rows, part.n_configs) == (serial.n_rows, serial.n_configs)
        assert part.yy == pytest.approx(serial.yy, rel=1e-13)
        c = solve(part, "ridge", gamma, lam=1e-6).coefficients
        if method == "qr":
            assert _relative(c, ref) < 1e-10
        else:  # the Gram matrix squares the conditioning: only the function is claimed
            model, truth = LinearACEModel(basis, c, e0), LinearACEModel(basis, ref, e0)
            for conf in configs[:3]:
                a, b = model.predict(conf.atoms), truth.predict(conf.atoms)
                assert a["energy"] == pytest.approx(b["energy"], rel=1e-9)
                np.testing.assert_allclose(a["forces"], b["forces"], atol=1e-6)
    with pytest.raises(ValueError, match="positive integer"):
        distributed_assemble(basis, configs, e0, partitions=0)
    with pytest.raises(ValueError, match="at least one"):
        merge([])


def test_bad_input_is_named(problem):
    basis, configs, e0 = problem
    with pytest.raises(ValueError, match="no reference energy E0 for element O"):
        distributed_assemble(basis, configs, {"H": 0.0, "C": 0.0}, progress=False)
    small = ACEBasis(["H", "C"], order=1, max_n=2, max_l=0, cache_dir=None)
    with pytest.raises(ValueError, match="element O is not in the basis"):
        distributed_assemble(small, configs, e0, progress=False)
    with pytest.raises(ValueError, match="unknown assembly method"):
        distributed_assemble(basis, configs, e0, method="svd")


def test_cli_without_dask_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    args = ["fit", str(ACAC / "train_300K.xyz"), "--order", "1", "--max-n", "2"]
    args += ["--max-l", "0", "--quiet", "-o", str(tmp_path / "m.npz")]
    assert main([*args, "--workers", "2"]) == 2
    assert "pip install 'ace-ref[distributed]'" in capsys.readouterr().err
    assert main([*args, "--workers", "1", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "not both" in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()


# ---------------------------------------------------------------- on a Dask cluster


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def test_workers_import_this_ace_ref(client):
    files = client.run(lambda: __import__("ace_ref").__file__)
    assert len(files) == 2
    assert set(files.values()) == {ace_ref.__file__}


@pytest.mark.parametrize("method", ["qr", "normal"])
def test_two_workers_match_in_process_and_serial(problem, client, method):
    basis, configs, e0 = problem
    # every fold and merge runs single-threaded LAPACK, here as on the workers, so the
    # in-process reference and the cluster compute the very same floating-point operations
    local = distributed_assemble(basis, configs, e0, partitions=5, progress=False, method=method)
    remote = distributed_assemble(
        basis, configs, e0, client=client, partitions=5, progress=False, method=method
    )
    # the merge tree has a fixed shape: where each task ran does not change a bit
    assert _bitwise_equal(remote, local)
    # default partitions: the serial plan, so the serial summary bit for bit, and therefore
    # the same coefficients from every solver (BLR included, whose evidence-optimal λ makes
    # it sensitive to round-off at the 1e-9 level otherwise)
    default = distributed_assemble(basis, configs, e0, client=client, progress=False, method=method)
    serial = assemble(basis, configs, e0, progress=False, method=method)
    assert _bitwise_equal(default, serial)
    gamma = smoothness_prior(basis, 2.0)
    for solver in ("blr", "ridge"):
        c = solve(default, solver, gamma, lam=1e-6).coefficients
        ref = solve(serial, solver, gamma, lam=1e-6).coefficients
        np.testing.assert_array_equal(c, ref)
    if method == "qr":  # other partitions: the same least-squares problem up to round-off
        c = solve(remote, "ridge", gamma, lam=1e-6).coefficients
        ref = solve(serial, "ridge", gamma, lam=1e-6).coefficients
        assert _relative(c, ref) < 1e-10


def test_cli_scheduler_fit_equals_serial(client, tmp_path, capsys):
    base = [
        "fit",
        str(ACAC / "train_300K.xyz"),
        "--e0",
        str(ACAC / "isolated_atoms.xyz"),
        "--order",
        "2",
        "--max-n",
        "4,3",
        "--max-l",
        "0,2",
        "--rcut",
        "4.0",
        "--solver",
        "ridge",
        "--lam",
        "1e-6",
        "--quiet",
    ]
    assert main([*base, "-o", str(tmp_path / "serial.npz")]) == 0
    address = client.scheduler.address
    assert main([*base, "--scheduler", address, "-o", str(tmp_path / "dask.npz")]) == 0
    serial, dask = load(tmp_path / "serial.npz"), load(tmp_path / "dask.npz")
    np.testing.assert_array_equal(dask.coefficients, serial.coefficients)
    capsys.readouterr()
    assert main([*base, "--scheduler", "127.0.0.1:1", "-o", str(tmp_path / "x.npz")]) == 2
    assert "tcp://HOST:PORT" in capsys.readouterr().err


def test_cli_starts_its_own_local_cluster(problem, tmp_path, capsys):
    pytest.importorskip("distributed")
    args = [
        "fit",
        str(ACAC / "train_300K.xyz"),
        "--e0",
        str(ACAC / "isolated_atoms.xyz"),
        "--order",
        "1",
        "--max-n",
        "4",
        "--max-l",
        "0",
        "--solver",
        "ridge",
        "--quiet",
    ]
    assert main([*args, "--workers", "2", "-o", str(tmp_path / "w.npz")]) == 0
    assert main([*args, "-o", str(tmp_path / "s.npz")]) == 0
    w, s = load(tmp_path / "w.npz"), load(tmp_path / "s.npz")
    np.testing.assert_array_equal(w.coefficients, s.coefficients)
    capsys.readouterr()
    assert main([*args, "--workers", "0", "-o", str(tmp_path / "z.npz")]) == 2
    assert "--workers must be a positive integer" in capsys.readouterr().err


def test_killed_worker_is_replaced_and_the_fit_is_unchanged(problem):
    """SIGKILL one worker process while it holds a partition task: Dask reruns the task
    elsewhere and the summary is bitwise the one computed without failures."""
    distributed = pytest.importorskip("distributed")
    basis, configs, e0 = problem
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        # reference without failures, in process (single-threaded LAPACK, as on the workers)
        expected = distributed_assemble(basis, configs, e0, partitions=16, progress=False)
        pids = c.run(os.getpid)
        killed: dict = {}

        def kill_a_busy_worker():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                for address, keys in c.processing().items():
                    mine = [k for k in keys if str(k).startswith(PARTITION_KEY)]
                    if mine and address in pids:
                        os.kill(pids[address], signal.SIGKILL)
                        killed.update(address=address, keys=mine)
                        return
                time.sleep(0.005)  # poll the scheduler's view, no fixed wait

        watcher = threading.Thread(target=kill_a_busy_worker)
        watcher.start()
        system = distributed_assemble(basis, configs, e0, client=c, partitions=16, progress=False)
        watcher.join()
        assert killed, "no partition task was seen running"
        # the scheduler sent each killed task to a worker more than once
        for key in killed["keys"]:
            starts = [s for s in c.story(key) if s[0] == "scheduler" and s[3] == "processing"]
            assert len(starts) >= 2, c.story(key)
    assert _bitwise_equal(system, expected)
