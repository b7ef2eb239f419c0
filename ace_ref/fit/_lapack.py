"""GIL-free calls of LAPACK kernels: blocked QR (folding rows into a triangle on threads) and
the bidiagonal reduction behind the regularised solvers.

SciPy's ``scipy.linalg.lapack.dtpqrt`` wrapper holds the GIL while LAPACK runs, so two Python
threads folding two partitions would take turns. Here the same LAPACK routines (from SciPy's
``scipy.linalg.cython_lapack``, i.e. the very library SciPy links) are called through
:mod:`ctypes`, which releases the GIL for the duration of a foreign call.

Both functions work in place on Fortran-ordered float64 arrays:

* :func:`geqrt` — ``A = Q R`` of an ``m × n`` block (``dgeqrt``); ``R`` overwrites the upper
  triangle (trapezoid when ``m < n``) of ``A``, reflectors stay below it.
* :func:`tpqrt` — the QR of the stacked ``[T; B]`` with ``T`` ``n × n`` upper triangular and
  ``B`` ``m × n`` "pentagonal" (its last ``l`` rows upper trapezoidal; ``l = 0`` a full
  rectangle, ``l = n = m`` a triangle) (``dtpqrt``): the new ``R`` overwrites ``T``, ``B`` is
  overwritten by reflectors. Cost ≈ ``2 m n²`` flops for ``l = 0``, ``(2/3) n³`` for a triangle.
* :func:`gebrd` — ``A = Q B Pᵀ`` of a square ``n × n`` matrix with ``B`` upper bidiagonal
  (``dgebrd``, ≈ ``(8/3) n³`` flops); :func:`ormbr` applies ``Q``, ``Qᵀ``, ``P`` or ``Pᵀ``
  from its reflectors (``dormbr``); :func:`bdsqr_values` gives the singular values of a
  bidiagonal matrix (``dbdsqr`` without vectors, ``O(n²)``).

LAPACK integers are 32-bit here (SciPy's ``cython_lapack`` is LP64).

Why not ``scipy.linalg.lapack.dgeqrf``/``dormqr`` for the serial routines too: the band
reduction applies each panel's reflectors to the trailing block ``a[k0:, k1:]`` of a
Fortran-ordered matrix, which has contiguous columns but is not itself Fortran-contiguous;
SciPy's f2py wrappers copy such an argument (and return the copy), so every panel would copy
the whole trailing matrix (``K²`` numbers, ~1 GB at K = 11 469) instead of updating it in place.
"""

from __future__ import annotations

import ctypes
import itertools
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
from numba.extending import get_cython_function_address

__all__ = [
    "add_gram_tile",
    "bdsqr_values",
    "syrk_lower",
    "gbbrd_upper",
    "gebrd",
    "gelqf",
    "geqrf",
    "geqrt",
    "ormbr",
    "ormlq",
    "ormqr",
    "tpqrt",
    "tpqrt_parallel",
]

_INT_MAX = 2**31 - 1


@cache
def _routine(name: str, n_args: int):
    """A ``ctypes`` function for the LAPACK routine ``name`` (all arguments by pointer), at the
    address SciPy's ``cython_lapack`` exports (found by Numba's capsule lookup)."""
    address = get_cython_function_address("scipy.linalg.cython_lapack", name)
    # CFUNCTYPE (not PYFUNCTYPE): ctypes releases the GIL around the call
    return ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * n_args))(address)


@cache
def _blas_routine(name: str, n_args: int):
    """A ``ctypes`` function for the BLAS routine ``name`` from SciPy's ``cython_blas``."""
    address = get_cython_function_address("scipy.linalg.cython_blas", name)
    return ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * n_args))(address)


def _double(value: float):
    return ctypes.byref(ctypes.c_double(float(value)))


def syrk_lower(c: np.ndarray, a: np.ndarray, alpha: float, beta: float, tile: int = 2048) -> None:
    """``C ← α A Aᵀ + β C`` on the lower triangle of ``c`` (``n × n``), in place, tile by tile.

    Each column tile ``[j0, j1)`` is one ``dsyrk`` on its diagonal block and one ``dgemm`` on
    the block below it, with the leading dimensions of ``c`` and ``a`` (``n × k``; a row slice
    of a Fortran-ordered buffer is fine), so no part of ``c`` is copied. The upper triangle is
    not touched. ``n² k`` flops (half of a ``dgemm`` of the whole matrix).

    Why not ``scipy.linalg.blas.dsyrk`` on the whole matrix: OpenBLAS 0.3.30 (SciPy 1.17's)
    returns wrong numbers, or crashes, on two threads for ``n`` above about 27 000 (a rank-32
    update of a 32 070-square matrix was wrong in 1992 of 2000 sampled entries; single-threaded
    it was right); through NumPy's ``b.T @ b`` (which calls ``dsyrk``) it crashed at
    ``n`` = 20 000, ``k`` = 1500. The tiles keep every call far below these sizes.
    """
    ldc = _leading_dimension("c", c)
    lda = _leading_dimension("a", a)
    n, k = a.shape
    if c.shape != (n, n):
        raise ValueError(f"c is {c.shape}, a is {a.shape}: need c n × n and a n × k")
    if n == 0 or k == 0:
        return
    tile = max(1, int(tile))
    syrk, gemm = _blas_routine("dsyrk", 10), _blas_routine("dgemm", 13)
    item = c.itemsize
    for j0 in range(0, n, tile):
        j1 = min(j0 + tile, n)
        w = j1 - j0
        syrk(
            _char("L"), _char("N"), _int(w), _int(k), _double(alpha),
            a.ctypes.data + item * j0, _int(lda), _double(beta),
            c.ctypes.data + item * (j0 + j0 * ldc), _int(ldc),
        )  # fmt: skip
        if j1 < n:
            gemm(
                _char("N"), _char("T"), _int(n - j1), _int(w), _int(k), _double(alpha),
                a.ctypes.data + item * j1, _int(lda), a.ctypes.data + item * j0, _int(lda),
                _double(beta), c.ctypes.data + item * (j1 + j0 * ldc), _int(ldc),
            )  # fmt: skip


def add_gram_tile(c: np.ndarray, a: np.ndarray, rows: slice, columns: slice) -> None:
    """``C[rows, columns] += A[:, rows]ᵀ A[:, columns]``, in place, for a tile on or above the
    diagonal of the ``K × K`` ``c`` (``a``: ``m × K``, contiguous columns).

    A diagonal tile (``rows == columns``) is one ``dsyrk`` on its upper triangle, any other
    one ``dgemm``; both accumulate into ``c`` with ``β = 1`` (no temporary of the tile, and
    ``c`` is read and written once per call, not three times as by ``c[t] += a.T @ b``).
    """
    ldc, lda = _leading_dimension("c", c), _leading_dimension("a", a)
    m, K = a.shape
    i0, i1, _ = rows.indices(K)
    j0, j1, _ = columns.indices(K)
    if i1 <= i0 or j1 <= j0:
        return  # an empty tile
    if c.shape != (K, K) or i0 > j0 or (i0 == j0 and i1 != j1) or (i0 < j0 and i1 > j0):
        raise ValueError(f"need c {K} × {K} and a tile on or above its diagonal")
    if m == 0:
        return
    item = c.itemsize
    if i0 == j0:
        _blas_routine("dsyrk", 10)(
            _char("U"), _char("T"), _int(j1 - j0), _int(m), _double(1.0),
            a.ctypes.data + item * lda * j0, _int(lda), _double(1.0),
            c.ctypes.data + item * (j0 + j0 * ldc), _int(ldc),
        )  # fmt: skip
        return
    _blas_routine("dgemm", 13)(
        _char("T"), _char("N"), _int(i1 - i0), _int(j1 - j0), _int(m), _double(1.0),
        a.ctypes.data + item * lda * i0, _int(lda), a.ctypes.data + item * lda * j0, _int(lda),
        _double(1.0), c.ctypes.data + item * (i0 + j0 * ldc), _int(ldc),
    )  # fmt: skip


def _int(value: int):
    if not 0 <= value <= _INT_MAX:
        raise ValueError(f"LAPACK dimension {value} does not fit a 32-bit integer")
    return ctypes.byref(ctypes.c_int(int(value)))


def _leading_dimension(name: str, a: np.ndarray) -> int:
    """LAPACK's ``LDA`` of ``a``: contiguous columns, column stride ``lda ≥ rows``.

    Row slices ``buffer[:m]`` of a Fortran-ordered buffer qualify (``lda`` = buffer rows).
    """
    item = a.itemsize
    if a.dtype != np.float64 or a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D float64 array")
    if not a.flags.writeable:
        raise ValueError(f"{name} must be writeable (it is overwritten in place)")
    m, n = a.shape
    if a.flags.f_contiguous:
        return max(1, m)
    s0, s1 = a.strides
    if (s0 == item or m <= 1) and s1 % item == 0 and s1 // item >= max(1, m):
        return s1 // item
    raise ValueError(f"{name} must have contiguous columns (Fortran order), strides {a.strides}")


def _check_info(routine: str, info: ctypes.c_int) -> None:
    if info.value != 0:
        raise RuntimeError(f"LAPACK {routine} failed (info={info.value})")


def geqrt(a: np.ndarray, nb: int = 64) -> None:
    """QR of ``a`` (``m × n``, Fortran order) in place: ``R`` in its upper triangle/trapezoid.

    Parameters
    ----------
    a
        Overwritten: ``R`` on and above the diagonal, Householder vectors below.
    nb
        Block size of the compact-WY representation (clipped to ``1 … min(m, n)``).
    """
    lda = _leading_dimension("a", a)
    m, n = a.shape
    k = min(m, n)
    if k == 0:
        return
    nb = max(1, min(int(nb), k))
    t = np.empty((nb, k), order="F")
    work = np.empty(nb * n)
    info = ctypes.c_int(0)
    _routine("dgeqrt", 9)(
        _int(m), _int(n), _int(nb), a.ctypes.data, _int(lda), t.ctypes.data,
        _int(nb), work.ctypes.data, ctypes.byref(info),
    )  # fmt: skip
    _check_info("dgeqrt", info)


def _pentagonal_shapes(t_upper: np.ndarray, b: np.ndarray, l: int) -> tuple[int, int, int, int]:  # noqa: E741
    """``(lda, ldb, m, n)`` of a ``dtpqrt`` problem ``[t_upper (n × n); b (m × n)]``, checked."""
    lda = _leading_dimension("t_upper", t_upper)
    ldb = _leading_dimension("b", b)
    n = t_upper.shape[1]
    m = b.shape[0]
    if t_upper.shape[0] != n or b.shape[1] != n:
        raise ValueError(f"shapes {t_upper.shape} and {b.shape}: need n × n and m × n")
    if not 0 <= l <= min(m, n):
        raise ValueError(f"l = {l} must lie in 0 … min(m, n) = {min(m, n)}")
    return lda, ldb, m, n


def tpqrt(t_upper: np.ndarray, b: np.ndarray, l: int = 0, nb: int = 64) -> None:  # noqa: E741
    """QR of ``[t_upper; b]`` in place: the new ``R`` overwrites ``t_upper``.

    Parameters
    ----------
    t_upper
        ``n × n`` upper triangular (entries below the diagonal are ignored), Fortran order.
    b
        ``m × n``, Fortran order; overwritten by Householder vectors.
    l
        Number of rows of the trapezoidal bottom part of ``b`` (``0 ≤ l ≤ min(m, n)``):
        0 for a full block, ``n`` when ``b`` is itself an ``n × n`` upper triangle.
    nb
        Block size (clipped to ``1 … n``).
    """
    lda, ldb, m, n = _pentagonal_shapes(t_upper, b, l)
    if m == 0 or n == 0:
        return
    nb = max(1, min(int(nb), n))
    t = np.empty((nb, n), order="F")
    work = np.empty(nb * n)
    info = ctypes.c_int(0)
    _routine("dtpqrt", 12)(
        _int(m), _int(n), _int(l), _int(nb), t_upper.ctypes.data, _int(lda), b.ctypes.data,
        _int(ldb), t.ctypes.data, _int(nb), work.ctypes.data, ctypes.byref(info),
    )  # fmt: skip
    _check_info("dtpqrt", info)


def tpqrt_parallel(
    t_upper: np.ndarray,
    b: np.ndarray,
    l: int = 0,  # noqa: E741
    nb: int = 64,
    column_block: int = 512,
    threads: int = 1,
) -> None:
    """:func:`tpqrt` with the trailing updates of every panel spread over ``threads``.

    The panel loop of LAPACK's ``dtpqrt``, written out: for each panel of ``nb`` columns,
    ``dtpqrt2`` factors it and ``dtprfb`` applies its block reflector to the columns on its
    right. Those columns are cut at the fixed multiples of ``column_block`` and each piece
    is one ``dtprfb`` call, run on a pool of ``threads`` Python threads (ctypes releases the
    GIL; BLAS should be single-threaded, see :func:`threadpoolctl.threadpool_limits`). The
    pieces do not depend on ``threads``, so neither does a single bit of the result. Same
    arguments and result as :func:`tpqrt`; about ``(2/3) n³`` flops for a triangle ``b``,
    all but the panel factorisations (``≈ n² nb``) in parallel.
    """
    lda, ldb, m, n = _pentagonal_shapes(t_upper, b, l)
    if int(threads) < 1 or int(column_block) < 1:
        raise ValueError(f"threads ({threads}) and column_block ({column_block}) must be ≥ 1")
    if m == 0 or n == 0:
        return
    nb = max(1, min(int(nb), n))
    column_block = int(column_block)
    t = np.empty((nb, n), order="F")
    item = t_upper.itemsize
    a_at = lambda i, j: t_upper.ctypes.data + (i + j * lda) * item  # noqa: E731
    b_at = lambda i, j: b.ctypes.data + (i + j * ldb) * item  # noqa: E731
    tpqrt2, tprfb = _routine("dtpqrt2", 10), _routine("dtprfb", 18)
    left, trans, forward, columnwise = _char("L"), _char("T"), _char("F"), _char("C")

    def update(i: int, ib: int, mb: int, lb: int, j0: int, j1: int) -> None:
        work = np.empty(ib * (j1 - j0))
        tprfb(
            left, trans, forward, columnwise, _int(mb), _int(j1 - j0), _int(ib), _int(lb),
            b_at(0, i), _int(ldb), t.ctypes.data + i * nb * item, _int(nb),
            a_at(i, j0), _int(lda), b_at(0, j0), _int(ldb), work.ctypes.data, _int(ib),
        )  # fmt: skip

    pool = ThreadPoolExecutor(int(threads), "ace-ref-tpqrt") if threads > 1 else None
    try:
        for i in range(0, n, nb):  # 0-based panel start (LAPACK's I − 1)
            ib = min(n - i, nb)
            mb = min(m - l + i + ib, m)
            lb = 0 if i + 1 >= l else mb - m + l - i
            info = ctypes.c_int(0)
            tpqrt2(
                _int(mb), _int(ib), _int(lb), a_at(i, i), _int(lda), b_at(0, i), _int(ldb),
                t.ctypes.data + i * nb * item, _int(nb), ctypes.byref(info),
            )  # fmt: skip
            _check_info("dtpqrt2", info)
            start = i + ib
            if start >= n:
                continue
            cuts = [start, *range((start // column_block + 1) * column_block, n, column_block), n]
            pieces = [(i, ib, mb, lb, j0, j1) for j0, j1 in itertools.pairwise(cuts) if j1 > j0]
            if pool is None:
                for piece in pieces:
                    update(*piece)
            else:
                for future in [pool.submit(update, *piece) for piece in pieces]:
                    future.result()
    finally:
        if pool is not None:
            pool.shutdown()


def _char(c: str):
    return ctypes.byref(ctypes.c_char(c.encode()))


def _query_and_run(routine: str, n_args: int, args: tuple) -> None:
    """Run ``routine(*args, work, lwork, info)`` after a workspace query."""
    info = ctypes.c_int(0)
    query = np.empty(1)
    f = _routine(routine, n_args)
    f(*args, query.ctypes.data, ctypes.byref(ctypes.c_int(-1)), ctypes.byref(info))
    _check_info(f"{routine} (workspace query)", info)
    work = np.empty(max(int(query[0]), 1))
    f(*args, work.ctypes.data, _int(work.size), ctypes.byref(info))
    _check_info(routine, info)


def gebrd(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reduce a square ``a`` (Fortran order) to upper bidiagonal form in place: ``a = Q B Pᵀ``.

    Returns ``(d, e, tauq, taup)``: the diagonal ``d`` (``n``) and superdiagonal ``e``
    (``n − 1``) of ``B``, and the scalar factors of the reflectors that ``a`` now holds
    below (``Q``) and above (``P``) the bidiagonal; see :func:`ormbr`.
    """
    lda = _leading_dimension("a", a)
    m, n = a.shape
    if m != n:
        raise ValueError(f"gebrd here takes a square matrix, got {a.shape}")
    d, e_buffer = np.empty(n), np.empty(max(n, 1))  # LAPACK wants room for e even at n = 1
    tauq, taup = np.empty(n), np.empty(n)
    if n == 0:
        return d, e_buffer[:0], tauq, taup
    args = (_int(m), _int(n), a.ctypes.data, _int(lda), d.ctypes.data, e_buffer.ctypes.data,
            tauq.ctypes.data, taup.ctypes.data)  # fmt: skip
    _query_and_run("dgebrd", 11, args)
    return d, e_buffer[: n - 1].copy(), tauq, taup


def ormbr(vect: str, trans: str, a: np.ndarray, tau: np.ndarray, c: np.ndarray) -> None:
    """Overwrite ``c`` (``n × k``, Fortran order) by ``Q c``, ``Qᵀ c`` (``vect="Q"``) or
    ``P c``, ``Pᵀ c`` (``vect="P"``), ``trans`` ``"N"`` or ``"T"``, with the reflectors that
    :func:`gebrd` left in ``a`` and its ``tauq`` / ``taup``."""
    if vect not in ("Q", "P") or trans not in ("N", "T"):
        raise ValueError(f"vect must be 'Q' or 'P' and trans 'N' or 'T', got {vect!r}, {trans!r}")
    lda = _leading_dimension("a", a)
    ldc = _leading_dimension("c", c)
    n = a.shape[1]
    if c.shape[0] != n:
        raise ValueError(f"c has {c.shape[0]} rows, the reflectors act on {n}")
    if n == 0 or c.shape[1] == 0:
        return
    args = (_char(vect), _char("L"), _char(trans), _int(n), _int(c.shape[1]), _int(n),
            a.ctypes.data, _int(lda), tau.ctypes.data, c.ctypes.data, _int(ldc))  # fmt: skip
    _query_and_run("dormbr", 14, args)


def bdsqr_values(d: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Singular values (descending) of the upper bidiagonal matrix with diagonal ``d`` and
    superdiagonal ``e``; the inputs are not changed."""
    n = len(d)
    s = np.array(d, dtype=np.float64, copy=True)
    if n == 0:
        return s
    ee = np.zeros(max(n, 1))
    ee[: n - 1] = e
    work = np.empty(4 * n)
    dummy = np.zeros(1)
    info = ctypes.c_int(0)
    _routine("dbdsqr", 15)(
        _char("U"), _int(n), _int(0), _int(0), _int(0), s.ctypes.data, ee.ctypes.data,
        dummy.ctypes.data, _int(1), dummy.ctypes.data, _int(1), dummy.ctypes.data, _int(1),
        work.ctypes.data, ctypes.byref(info),
    )  # fmt: skip
    _check_info("dbdsqr", info)
    return s


def _householder_factor(routine: str, a: np.ndarray) -> np.ndarray:
    lda = _leading_dimension("a", a)
    m, n = a.shape
    tau = np.empty(max(min(m, n), 1))
    if min(m, n) == 0:
        return tau[:0]
    _query_and_run(routine, 7, (_int(m), _int(n), a.ctypes.data, _int(lda), tau.ctypes.data))
    return tau


def geqrf(a: np.ndarray) -> np.ndarray:
    """QR of ``a`` (``m × n``, contiguous columns) in place (``dgeqrf``): ``R`` on and above
    the diagonal, Householder vectors below; returns their scalar factors ``tau``."""
    return _householder_factor("dgeqrf", a)


def gelqf(a: np.ndarray) -> np.ndarray:
    """LQ of ``a`` (``m × n``) in place (``dgelqf``): ``L`` on and below the diagonal,
    Householder vectors (as rows) above; returns their scalar factors ``tau``."""
    return _householder_factor("dgelqf", a)


def _apply_reflectors(routine, side, trans, reflectors, tau, c, by_rows) -> None:
    if side not in ("L", "R") or trans not in ("N", "T"):
        raise ValueError(f"side must be 'L' or 'R' and trans 'N' or 'T', got {side!r}, {trans!r}")
    lda = _leading_dimension("reflectors", reflectors)
    ldc = _leading_dimension("c", c)
    m, n = c.shape
    k = len(tau)
    order = m if side == "L" else n  # the order of Q
    length = reflectors.shape[1] if by_rows else reflectors.shape[0]
    if length != order:
        raise ValueError(f"reflectors of length {length} cannot act on a dimension of {order}")
    if m == 0 or n == 0 or k == 0:
        return
    _query_and_run(routine, 13, (_char(side), _char(trans), _int(m), _int(n), _int(k),
                                 reflectors.ctypes.data, _int(lda), tau.ctypes.data,
                                 c.ctypes.data, _int(ldc)))  # fmt: skip


def ormqr(side: str, trans: str, reflectors: np.ndarray, tau: np.ndarray, c: np.ndarray) -> None:
    """Overwrite ``c`` by ``Q c``, ``Qᵀ c`` (``side="L"``) or ``c Q``, ``c Qᵀ`` (``"R"``),
    ``Q`` from :func:`geqrf`'s ``reflectors`` (column vectors) and ``tau`` (``dormqr``)."""
    _apply_reflectors("dormqr", side, trans, reflectors, tau, c, by_rows=False)


def ormlq(side: str, trans: str, reflectors: np.ndarray, tau: np.ndarray, c: np.ndarray) -> None:
    """As :func:`ormqr` for ``Q`` from :func:`gelqf` (reflectors stored as rows; ``dormlq``)."""
    _apply_reflectors("dormlq", side, trans, reflectors, tau, c, by_rows=True)


def gbbrd_upper(band: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reduce an upper band matrix to upper bidiagonal form (``dgbbrd``, no vectors formed).

    Parameters
    ----------
    band
        ``(ku + 1) × n`` LAPACK band storage of an ``n × n`` matrix with ``kl = 0`` and
        ``ku`` superdiagonals: ``band[ku + i - j, j] = A[i, j]`` for ``j - ku ≤ i ≤ j``;
        overwritten.
    c
        ``n × ncc`` (Fortran order), overwritten by ``Qᵀ c`` where ``A = Q B Pᵀ``.

    Returns
    -------
    d, e
        Diagonal and superdiagonal of ``B``. ``O(n² ku)`` flops, Givens rotations.
    """
    ldab = _leading_dimension("band", band)
    ldc = _leading_dimension("c", c)
    ku = band.shape[0] - 1
    n = band.shape[1]
    if c.shape[0] != n:
        raise ValueError(f"c has {c.shape[0]} rows, the band matrix {n}")
    d, e = np.empty(max(n, 1)), np.empty(max(n, 1))
    if n == 0:
        return d[:0], e[:0]
    work = np.empty(2 * n)
    dummy = np.zeros(1)
    info = ctypes.c_int(0)
    _routine("dgbbrd", 18)(
        _char("N"), _int(n), _int(n), _int(c.shape[1]), _int(0), _int(ku), band.ctypes.data,
        _int(ldab), d.ctypes.data, e.ctypes.data, dummy.ctypes.data, _int(1), dummy.ctypes.data,
        _int(1), c.ctypes.data, _int(ldc), work.ctypes.data, ctypes.byref(info),
    )  # fmt: skip
    _check_info("dgbbrd", info)
    return d[:n], e[: n - 1].copy()
