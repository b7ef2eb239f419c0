"""The fixed reduction plan (partitions + merge tree), threaded assembly and the GIL-free
LAPACK folds it runs on (issues 6 and 8)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from ace_ref import ACEBasis
from ace_ref.fit import _lapack as lapack
from ace_ref.fit.assembly import Weights, assemble, config_rows, summarise
from ace_ref.fit.data import read_configs, read_e0
from ace_ref.fit.reduction import merge_tree, plan_partitions, reduce_tree, row_counts
from ace_ref.fit.solvers import smoothness_prior, solve
from tests.paths import ACAC


def _pair(a: str, b: str) -> str:
    return f"({a}+{b})"


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), threads=st.integers(1, 4))
def test_threaded_tree_has_the_static_shape(n, threads):
    leaves = [str(k) for k in range(n)]
    static = merge_tree(leaves, lambda a, b, *_: _pair(a, b))
    assert reduce_tree(n, lambda k: leaves[k], _pair, threads) == static
    # every leaf appears once, in order
    assert static.replace("(", "").replace(")", "").split("+") == leaves


def test_merge_tree_shape_and_errors():
    assert merge_tree(["a"], _pair) == "a"
    assert merge_tree(list("abcde"), lambda a, b, *_: _pair(a, b)) == "(((a+b)+(c+d))+e)"
    with pytest.raises(ValueError, match="nothing to merge"):
        merge_tree([], _pair)
    with pytest.raises(ValueError, match="nothing to merge"):
        reduce_tree(0, str, _pair)


def test_reduce_tree_raises_the_leaf_error():
    def leaf(k):
        if k == 3:
            raise RuntimeError("leaf 3 failed")
        return str(k)

    for threads in (1, 2):
        with pytest.raises(RuntimeError, match="leaf 3 failed"):
            reduce_tree(6, leaf, _pair, threads)


def test_plan_depends_on_rows_and_columns_only():
    # acac train_300K (23 000 rows) at the default basis (K = 5835): two partitions
    assert plan_partitions(23_000, 5835) == 2
    assert plan_partitions(41_000, 16_488) == 2  # 3BPA
    assert plan_partitions(500, 16_488) == 1
    assert plan_partitions(100_000, 1000) == 16
    assert plan_partitions(10**8, 16_488) == 1024
    for rows in (0, 10, 5000, 123_456, 10**7):
        for K in (1, 50, 3000, 20_000):
            p = plan_partitions(rows, K)
            assert p & (p - 1) == 0  # a power of two
            assert p == 1 or rows / p >= max(K + 1, 2048)
    with pytest.raises(ValueError):
        plan_partitions(10, 0)


# ---------------------------------------------------------------- LAPACK without the GIL


def test_geqrt_and_tpqrt_give_the_qr_triangle():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(70, 30))
    R_ref = scipy.linalg.qr(A, mode="r")[0][:30]
    top = np.asfortranarray(A[:40])
    lapack.geqrt(top)
    T = np.zeros((30, 30), order="F")
    T[:] = np.triu(top[:30])
    rest = np.asfortranarray(A[40:])
    lapack.tpqrt(T, rest)
    R = np.triu(T)
    np.testing.assert_allclose(np.abs(R), np.abs(R_ref), atol=1e-12)
    # a triangle folded onto a triangle (l = n): the QR of both stacked
    other = np.triu(rng.normal(size=(30, 30)))
    both = scipy.linalg.qr(np.vstack([R, other]), mode="r")[0][:30]
    lapack.tpqrt(T, np.asfortranarray(other), l=30)
    np.testing.assert_allclose(np.abs(np.triu(T)), np.abs(both), atol=1e-12)
    # row slices of a Fortran buffer are accepted (leading dimension = buffer rows)
    buffer = np.zeros((50, 30), order="F")
    buffer[:40] = A[:40]
    lapack.geqrt(buffer[:40])
    np.testing.assert_array_equal(np.triu(buffer[:30]), np.triu(top[:30]))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 70),
    m=st.integers(1, 70),
    l_fraction=st.floats(0, 1),
    nb=st.integers(1, 20),
    column_block=st.integers(1, 30),
    seed=st.integers(0, 2**16),
)
def test_tpqrt_parallel_is_the_qr_and_independent_of_threads(
    n, m, l_fraction, nb, column_block, seed
):
    rng = np.random.default_rng(seed)
    l = int(round(l_fraction * min(m, n)))  # noqa: E741
    top = np.triu(rng.normal(size=(n, n)))
    bottom = rng.normal(size=(m, n))
    bottom[m - l :] = np.triu(bottom[m - l :])  # pentagonal: the last l rows trapezoidal
    results = []
    for threads in (1, 2, 3):
        T, B = top.copy(order="F"), bottom.copy(order="F")
        lapack.tpqrt_parallel(T, B, l=l, nb=nb, column_block=column_block, threads=threads)
        results.append(np.triu(T))
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])
    R_ref = scipy.linalg.qr(np.vstack([top, bottom]), mode="r")[0][:n]
    signs = np.sign(np.diag(R_ref)) * np.sign(np.diag(results[0]))
    scale = max(np.abs(R_ref).max(), 1.0)
    np.testing.assert_allclose(signs[:, None] * results[0], R_ref, atol=1e-12 * scale)
    # the same R as LAPACK's own dtpqrt, to round-off
    T, B = top.copy(order="F"), bottom.copy(order="F")
    lapack.tpqrt(T, B, l=l, nb=nb)
    np.testing.assert_allclose(np.triu(T), results[0], atol=1e-12 * scale)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 90),
    k=st.integers(1, 12),
    tile=st.integers(1, 40),
    spare_rows=st.integers(0, 5),
    seed=st.integers(0, 2**16),
)
def test_tiled_syrk_updates_the_lower_triangle_only(n, k, tile, spare_rows, seed):
    """``syrk_lower``: ``C ← α AAᵀ + βC`` on and below the diagonal, the upper triangle
    untouched, for any tile width, with ``A`` a row slice of a larger Fortran buffer and ``C``
    updated in place."""
    rng = np.random.default_rng(seed)
    c = np.asfortranarray(rng.normal(size=(n, n)))
    buffer = np.asfortranarray(rng.normal(size=(n + spare_rows, k)))
    a = buffer[:n]
    alpha, beta = rng.normal(), rng.normal()
    before = c.copy()
    address = c.ctypes.data
    lapack.syrk_lower(c, a, alpha, beta, tile)
    assert c.ctypes.data == address
    lower = np.tril_indices(n)
    expected = alpha * (a @ a.T) + beta * before
    np.testing.assert_allclose(c[lower], expected[lower], rtol=1e-12, atol=1e-12)
    upper = np.triu_indices(n, 1)
    np.testing.assert_array_equal(c[upper], before[upper])


@settings(max_examples=40, deadline=None)
@given(
    K=st.integers(1, 40),
    m=st.integers(0, 30),
    cuts=st.lists(st.integers(0, 40), min_size=3, max_size=3),
    spare_rows=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_gram_tile_accumulates_in_place_on_and_above_the_diagonal(K, m, cuts, spare_rows, seed):
    """``add_gram_tile``: ``C[r, c] += A[:, r]ᵀA[:, c]`` for a diagonal tile (its upper
    triangle only) or a tile above the diagonal, in place, everything else untouched, with
    ``A`` a row slice of a larger Fortran buffer."""
    rng = np.random.default_rng(seed)
    i0, j0, j1 = sorted(min(x, K) for x in cuts)
    c = np.asfortranarray(rng.normal(size=(K, K)))
    a = np.asfortranarray(rng.normal(size=(m + spare_rows, K)))[:m]
    for rows, columns in ((slice(j0, j1), slice(j0, j1)), (slice(i0, j0), slice(j0, j1))):
        before = c.copy()
        lapack.add_gram_tile(c, a, rows, columns)
        expected = before.copy()
        update = a[:, rows].T @ a[:, columns]
        if rows == columns:
            update = np.triu(update)
            expected[rows, columns] = np.where(
                np.triu(np.ones_like(update, dtype=bool)), before[rows, columns] + update,
                before[rows, columns],
            )  # fmt: skip
        else:
            expected[rows, columns] += update
        np.testing.assert_allclose(c, expected, rtol=1e-12, atol=1e-12)
    if 0 < j0 < K:
        with pytest.raises(ValueError, match="on or above its diagonal"):
            lapack.add_gram_tile(c, a, slice(j0, K), slice(0, j0))


def test_lapack_refuses_what_it_cannot_fold_in_place():
    with pytest.raises(ValueError, match="Fortran order"):
        lapack.geqrt(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="float64"):
        lapack.geqrt(np.zeros((5, 4), dtype=np.float32, order="F"))
    frozen = np.zeros((4, 4), order="F")
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        lapack.geqrt(frozen)
    with pytest.raises(ValueError, match="shapes"):
        lapack.tpqrt(np.zeros((4, 4), order="F"), np.zeros((3, 5), order="F"))
    with pytest.raises(ValueError, match="l = 5"):
        lapack.tpqrt(np.zeros((4, 4), order="F"), np.zeros((3, 4), order="F"), l=5)
    with pytest.raises(ValueError, match="l = 5"):
        lapack.tpqrt_parallel(np.zeros((4, 4), order="F"), np.zeros((3, 4), order="F"), l=5)
    with pytest.raises(ValueError, match="threads"):
        lapack.tpqrt_parallel(np.zeros((4, 4), order="F"), np.zeros((3, 4), order="F"), threads=0)


# ---------------------------------------------------------------- threaded assembly


@pytest.fixture(scope="module")
def problem(coupling_cache):
    configs = read_configs(ACAC / "train_300K.xyz")[:120]
    e0 = read_e0(ACAC / "isolated_atoms.xyz")
    basis = ACEBasis(
        ["H", "C", "O"], order=3, max_degree=[6, 6, 4], r_cut=4.0,
        cache_dir=coupling_cache,
    )  # fmt: skip
    return basis, configs, e0


@pytest.mark.parametrize("method", ["qr", "normal"])
def test_threads_do_not_change_a_bit(problem, method):
    basis, configs, e0 = problem
    rows = row_counts(configs, Weights())
    assert plan_partitions(int(rows.sum()), len(basis)) >= 2  # the tree is exercised
    ref = assemble(basis, configs, e0, progress=False, method=method, threads=1)
    for threads in (2, 3):
        other = assemble(basis, configs, e0, progress=False, method=method, threads=threads)
        for field in ("R", "z", "G", "b"):
            if getattr(ref, field) is not None:
                np.testing.assert_array_equal(getattr(other, field), getattr(ref, field))
        assert (other.yy, other.n_rows, other.n_configs) == (ref.yy, ref.n_rows, ref.n_configs)
    # the partitioned summary is the one-partition summary up to round-off
    whole = summarise(basis, configs, e0, Weights(), method)
    gamma = smoothness_prior(basis, 2.0)
    a = solve(ref, "ridge", gamma, lam=1e-6).coefficients
    b = solve(whole, "ridge", gamma, lam=1e-6).coefficients
    assert np.max(np.abs(a - b)) / np.max(np.abs(b)) < (1e-10 if method == "qr" else 1e-6)
    with pytest.raises(ValueError, match="threads"):
        assemble(basis, configs, e0, progress=False, threads=0)


def test_rows_written_into_a_block_buffer_equal_config_rows(problem):
    basis, configs, e0 = problem
    w = Weights.parse("energy=7,forces=2")
    c = configs[5]
    c.force_weights = np.linspace(0.5, 2.0, len(c.atoms))
    A, y = config_rows(basis, c, e0, w)
    # the generic path: design rows as (n, 3, K), weighted and stacked by hand
    rows = basis.design_rows(c.atoms)
    n = len(c.atoms)
    energy_weight = 7 * c.weight / n
    np.testing.assert_allclose(A[0], energy_weight * rows.energy, rtol=1e-15, atol=0)
    forces = (2 * np.repeat(c.force_weights, 3))[:, None] * rows.forces.reshape(3 * n, -1)
    np.testing.assert_allclose(A[1:], forces, rtol=1e-15, atol=0)
    np.testing.assert_allclose(y[1:], 2 * np.repeat(c.force_weights, 3) * c.forces.ravel())
    c.force_weights = None


def test_cli_threads_do_not_change_the_model(tmp_path, capsys):
    import numba

    from ace_ref.cli import main
    from ace_ref.models.load import load

    args = ["fit", str(ACAC / "train_300K.xyz"), "--e0", str(ACAC / "isolated_atoms.xyz")]
    args += ["--order", "2", "--max-n", "4,3", "--max-l", "0,2", "--rcut", "4.0", "--quiet"]
    try:
        for threads in (1, 2):
            out = tmp_path / f"t{threads}.npz"
            assert main([*args, "--threads", str(threads), "-o", str(out)]) == 0
        capsys.readouterr()
        one, two = load(tmp_path / "t1.npz"), load(tmp_path / "t2.npz")
        np.testing.assert_array_equal(one.coefficients, two.coefficients)
        assert main([*args, "--threads", "0", "-o", str(tmp_path / "t0.npz")]) == 2
        assert "--threads must lie in 1" in capsys.readouterr().err
        assert not (tmp_path / "t0.npz").exists()
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
