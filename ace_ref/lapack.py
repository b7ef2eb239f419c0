"""GIL-free calls of LAPACK's blocked QR kernels, for folding rows into a triangle on threads.

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

LAPACK integers are 32-bit here (SciPy's ``cython_lapack`` is LP64).
"""

from __future__ import annotations

import ctypes
from functools import cache

import numpy as np

__all__ = ["geqrt", "tpqrt"]

_INT_MAX = 2**31 - 1


@cache
def _routine(name: str, n_args: int):
    """A ``ctypes`` function for the LAPACK routine ``name`` (all arguments by pointer)."""
    import scipy.linalg.cython_lapack as cython_lapack

    capsule = cython_lapack.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    address = get_pointer(capsule, get_name(capsule))
    # CFUNCTYPE (not PYFUNCTYPE): ctypes releases the GIL around the call
    return ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * n_args))(address)


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
    lda = _leading_dimension("t_upper", t_upper)
    ldb = _leading_dimension("b", b)
    n = t_upper.shape[1]
    m = b.shape[0]
    if t_upper.shape[0] != n or b.shape[1] != n:
        raise ValueError(f"shapes {t_upper.shape} and {b.shape}: need n × n and m × n")
    if not 0 <= l <= min(m, n):
        raise ValueError(f"l = {l} must lie in 0 … min(m, n) = {min(m, n)}")
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
