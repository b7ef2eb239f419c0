"""Fixed-width row operations emitted as LLVM vector instructions (Numba intrinsics).

The prediction kernels keep a batch of :data:`WIDTH` atoms in the last axis of their work
arrays, so every update is a row operation such as ``y[i, :] += α x[j, :]``. Numba does not
vectorise such short fixed-length loops by itself: LLVM unrolls them completely before its loop
vectoriser runs, and Numba leaves LLVM's straight-line (SLP) vectoriser switched off because
it has miscompiled code. These intrinsics therefore write the vector IR directly.

Each operation is the plain element-wise IEEE operation — a multiply then an add, never a
fused multiply–add, never reassociated — so results are bit-identical to the scalar loop
``for w in range(WIDTH): ...``. Arguments must be C-contiguous float64 arrays of shape
``(n, WIDTH)`` (rows are read at ``data + row · strides[0]``); the callers allocate them so.
Row indices are not bounds-checked.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["WIDTH", "row_copy", "row_mul", "row_fma", "row_axpy", "row_fill"]

WIDTH = 8
"""Lanes per row: 8 float64 = one 512-bit (or two 256-bit) vector."""

_VEC = ir.VectorType(ir.DoubleType(), WIDTH)
_I64 = ir.IntType(64)


def _row(context, builder, array_type, array, row):
    """Pointer to ``array[row, 0:WIDTH]`` as a ``<WIDTH x double>*``."""
    ary = context.make_array(array_type)(context, builder, array)
    stride = builder.extract_value(ary.strides, 0)
    if row.type.width < 64:
        row = builder.sext(row, _I64)
    address = builder.add(builder.ptrtoint(ary.data, _I64), builder.mul(row, stride))
    return builder.inttoptr(address, _VEC.as_pointer())


def _splat(builder, scalar):
    vec = builder.insert_element(ir.Constant(_VEC, ir.Undefined), scalar, ir.Constant(_I64, 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), WIDTH), [0] * WIDTH)
    return builder.shuffle_vector(vec, ir.Constant(_VEC, ir.Undefined), mask)


def _check(*arrays):
    for a in arrays:
        if not (isinstance(a, types.Array) and a.ndim == 2 and a.dtype == types.float64):
            raise TypeError("simd row operations need 2-d float64 arrays")


@intrinsic
def row_copy(typingctx, out, i, x, j):
    """``out[i, :] = x[j, :]``."""
    _check(out, x)

    def codegen(context, builder, sig, args):
        o, oi, a, aj = args
        value = builder.load(_row(context, builder, sig.args[2], a, aj), align=8)
        builder.store(value, _row(context, builder, sig.args[0], o, oi), align=8)
        return context.get_dummy_value()

    return types.void(out, i, x, j), codegen


@intrinsic
def row_fill(typingctx, out, i, value):
    """``out[i, :] = value``."""
    _check(out)

    def codegen(context, builder, sig, args):
        o, oi, v = args
        builder.store(_splat(builder, v), _row(context, builder, sig.args[0], o, oi), align=8)
        return context.get_dummy_value()

    return types.void(out, i, types.float64), codegen


@intrinsic
def row_mul(typingctx, out, i, x, j, y, k):
    """``out[i, :] = x[j, :] * y[k, :]``."""
    _check(out, x, y)

    def codegen(context, builder, sig, args):
        o, oi, a, aj, b, bk = args
        va = builder.load(_row(context, builder, sig.args[2], a, aj), align=8)
        vb = builder.load(_row(context, builder, sig.args[4], b, bk), align=8)
        builder.store(builder.fmul(va, vb), _row(context, builder, sig.args[0], o, oi), align=8)
        return context.get_dummy_value()

    return types.void(out, i, x, j, y, k), codegen


@intrinsic
def row_fma(typingctx, out, i, x, j, y, k):
    """``out[i, :] += x[j, :] * y[k, :]`` (multiply, then add: not fused)."""
    _check(out, x, y)

    def codegen(context, builder, sig, args):
        o, oi, a, aj, b, bk = args
        va = builder.load(_row(context, builder, sig.args[2], a, aj), align=8)
        vb = builder.load(_row(context, builder, sig.args[4], b, bk), align=8)
        po = _row(context, builder, sig.args[0], o, oi)
        builder.store(builder.fadd(builder.load(po, align=8), builder.fmul(va, vb)), po, align=8)
        return context.get_dummy_value()

    return types.void(out, i, x, j, y, k), codegen


@intrinsic
def row_axpy(typingctx, out, i, alpha, x, j):
    """``out[i, :] += alpha * x[j, :]`` (multiply, then add: not fused)."""
    _check(out, x)

    def codegen(context, builder, sig, args):
        o, oi, al, a, aj = args
        va = builder.load(_row(context, builder, sig.args[3], a, aj), align=8)
        po = _row(context, builder, sig.args[0], o, oi)
        product = builder.fmul(_splat(builder, al), va)
        builder.store(builder.fadd(builder.load(po, align=8), product), po, align=8)
        return context.get_dummy_value()

    return types.void(out, i, types.float64, x, j), codegen
