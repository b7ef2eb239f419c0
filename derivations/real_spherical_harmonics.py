"""Derive the real spherical harmonics as exact polynomials and generate their tables.

Convention (ace_ref's, part of its public API)
---------------------------------------------
Complex ``Y_l^m(θ, φ)`` with the Condon–Shortley phase, as ``sympy.Ynm`` and
``scipy.special.sph_harm_y(l, m, θ, φ)`` define them (θ polar angle, φ azimuth):
``Y_l^m = N_lm e^{imφ} P_l^m(cos θ)``, ``N_lm = sqrt((2l+1)/(4π) (l−m)!/(l+m)!)`` and
``P_l^m(u) = (−1)^m (1 − u²)^{m/2} d^m P_l/du^m`` (``sympy.assoc_legendre``). The real,
orthonormal harmonics are

* ``m < 0``: ``Y_lm = √2 (−1)^m Im Y_l^{|m|}``,
* ``m = 0``: ``Y_l0 = Y_l^0``,
* ``m > 0``: ``Y_lm = √2 (−1)^m Re Y_l^m``,

stored at the flat index ``lm = l² + l + m``.

Derivation
----------
Write ``k = |m|`` and ``L_lk(u) = P_l^k(u) / (1 − u²)^{k/2}``, a polynomial of degree ``l − k``
with the parity of ``l − k`` (SymPy cancels the square roots exactly). Since
``r^k sin^k θ e^{ikφ} = (x + i y)^k`` and ``cos θ = z/r``,

    r^l Y_l^k = N_lk (x + i y)^k · r^{l−k} L_lk(z/r),

and ``r^{l−k} L_lk(z/r) = Σ_j a_j z^j (x² + y² + z²)^{(l−k−j)/2}`` is a polynomial because only
``j ≡ l − k (mod 2)`` occur. Hence, with ``c_0 = 1``, ``c_k = √2 (−1)^k`` for ``k > 0``,

    r^l Y_{l, k}  = c_k N_lk Re[(x + i y)^k] Σ_j a_j z^j r^{l−k−j},
    r^l Y_{l,−k}  = c_k N_lk Im[(x + i y)^k] Σ_j a_j z^j r^{l−k−j},

homogeneous polynomials of degree ``l`` in ``x, y, z`` with exact coefficients (rationals
times square roots of rationals over ``√π``). The script writes two exact descriptions of them
to ``ace_ref/_generated/real_ylm_table.py``:

1. the expanded monomials ``coeff · x^a y^b z^c`` of every ``r^l Y_lm`` (``TERM_*``), and
2. the factorized form used by the Numba kernel (``ZPOLY_*``): on the unit sphere
   ``Y_{l,±k}(u) = {Re, Im}[(u_x + i u_y)^k] · Z_lk(u_z)`` with
   ``Z_lk(t) = Σ_j (c_k N_lk a_j) t^j``.

Checks (all must pass before anything is written): every monomial polynomial is homogeneous of
degree ``l`` and harmonic (exact Laplacian ``= 0``); at three random rational points per
``(l, m)`` (off the unit sphere) it equals ``r^l`` times the convention-defined real harmonic
built from ``sympy.Ynm`` evaluated to 50 digits (an independent code path: mpmath's
``spherharm``); each exact-coefficient string round-trips through ``sympy.sympify``.

Output is deterministic (exact arithmetic, sorted terms, no hashing-dependent order).

Run: ``python derivations/real_spherical_harmonics.py [--output PATH] [--lmax 12]``.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import sympy as sp

LMAX_TABLE = 12
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parents[1] / "ace_ref" / "_generated" / "real_ylm_table.py"
)

x, y, z = sp.symbols("x y z", real=True)
_u = sp.Symbol("u", real=True)
_DIGITS = 50


def normalization(l: int, k: int) -> sp.Expr:
    """``N_lk = sqrt((2l+1)/(4π) · (l−k)!/(l+k)!)`` (exact)."""
    return sp.sqrt(sp.Rational(2 * l + 1) / (4 * sp.pi) * sp.factorial(l - k) / sp.factorial(l + k))


def legendre_part(l: int, k: int) -> list[tuple[int, sp.Rational]]:
    """Terms ``(j, a_j)`` of ``L_lk(u) = P_l^k(u) / (1 − u²)^{k/2}`` (Condon–Shortley phase).

    ``sympy.assoc_legendre`` includes the ``(−1)^k`` phase; dividing by ``(1 − u²)^{k/2}``
    cancels its square-root factor exactly.
    """
    ratio = sp.cancel(sp.assoc_legendre(l, k, _u) / (1 - _u**2) ** sp.Rational(k, 2))
    poly = sp.Poly(ratio, _u, domain="QQ")
    terms = [(j, sp.Rational(a)) for (j,), a in poly.terms()]
    assert all((l - k - j) % 2 == 0 for j, _ in terms), "parity of L_lk"
    return sorted(terms)


def real_prefactor(l: int, k: int) -> sp.Expr:
    """``c_k N_lk`` with ``c_0 = 1`` and ``c_k = √2 (−1)^k`` (the real-harmonic convention)."""
    return normalization(l, k) if k == 0 else sp.sqrt(2) * (-1) ** k * normalization(l, k)


def solid_harmonic_rational(l: int, m: int) -> sp.Poly:
    """The rational polynomial ``R_lm`` with ``r^l Y_lm = real_prefactor(l, |m|) · R_lm``."""
    k = abs(m)
    r2 = x**2 + y**2 + z**2
    zpart = sum(a * z**j * r2 ** ((l - k - j) // 2) for j, a in legendre_part(l, k))
    re_w, im_w = sp.expand((x + sp.I * y) ** k).as_real_imag()
    angular = re_w if m >= 0 else im_w
    return sp.Poly(sp.expand(angular * zpart), x, y, z, domain="QQ")


def real_ylm_reference(l: int, m: int, theta: sp.Expr, phi: sp.Expr) -> sp.Float:
    """Convention-defined real ``Y_lm`` from ``sympy.Ynm`` evaluated to ``_DIGITS`` digits."""
    k = abs(m)
    value = sp.Ynm(l, k, theta, phi).evalf(_DIGITS)
    if m == 0:
        return sp.re(value)
    part = sp.re(value) if m > 0 else sp.im(value)
    return sp.sqrt(2).evalf(_DIGITS) * (-1) ** m * part


def check_solid_harmonic(l: int, m: int, rational: sp.Poly, rng: random.Random) -> None:
    """Homogeneity, harmonicity and agreement with ``sympy.Ynm`` at random points."""
    if not rational.is_homogeneous or rational.total_degree() != l:
        raise AssertionError(f"r^l Y_{l},{m} is not homogeneous of degree {l}")
    expr = rational.as_expr()
    laplacian = sp.expand(sum(sp.diff(expr, s, 2) for s in (x, y, z)))
    if laplacian != 0:
        raise AssertionError(f"r^l Y_{l},{m} is not harmonic")
    prefactor = real_prefactor(l, abs(m))
    for _ in range(3):
        point = [sp.Rational(rng.randint(-999, 999), 500) for _ in range(3)]
        if point[0] == 0 and point[1] == 0:
            point[0] = sp.Rational(1, 7)
        px, py, pz = point
        r = sp.sqrt(px**2 + py**2 + pz**2)
        value = (prefactor * rational.eval({x: px, y: py, z: pz})).evalf(_DIGITS)
        ref = (r**l).evalf(_DIGITS) * real_ylm_reference(l, m, sp.acos(pz / r), sp.atan2(py, px))
        scale = max(1, abs(ref))
        if abs(value - ref) > sp.Float(10) ** (-(_DIGITS - 10)) * scale:
            raise AssertionError(f"r^l Y_{l},{m} differs from sympy.Ynm: {value} vs {ref}")


def exact_string(coeff: sp.Expr) -> str:
    """The exact coefficient as a SymPy string that round-trips through ``sympify``."""
    text = sp.sstr(coeff)
    if sp.sympify(text) != coeff:
        raise AssertionError(f"coefficient string {text!r} does not round-trip")
    return text


def float_repr(coeff: sp.Expr) -> str:
    """Correctly rounded double of an exact coefficient, as ``repr`` (full precision)."""
    return repr(float(coeff.evalf(_DIGITS)))


def generate(lmax: int = LMAX_TABLE, seed: int = 12345) -> str:
    """Derive, check and render the table module for ``l ≤ lmax`` (deterministic)."""
    rng = random.Random(seed)
    term_lm, powers, coeffs, exact = [], [], [], []
    lm_offsets = [0]
    for l in range(lmax + 1):
        for m in range(-l, l + 1):
            rational = solid_harmonic_rational(l, m)
            check_solid_harmonic(l, m, rational, rng)
            prefactor = real_prefactor(l, abs(m))
            for (a, b, c), q in sorted(rational.terms(), reverse=True):
                coeff = sp.Rational(q) * prefactor
                term_lm.append(l * l + l + m)
                powers.append((a, b, c))
                coeffs.append(float_repr(coeff))
                exact.append(exact_string(coeff))
            lm_offsets.append(len(coeffs))

    z_powers, z_coeffs, z_exact = [], [], []
    z_offsets = [0]
    for l in range(lmax + 1):
        for k in range(l + 1):
            prefactor = real_prefactor(l, k)
            for j, a in legendre_part(l, k):
                coeff = a * prefactor
                z_powers.append(j)
                z_coeffs.append(float_repr(coeff))
                z_exact.append(exact_string(coeff))
            z_offsets.append(len(z_coeffs))

    def int_list(values: list[int]) -> str:
        return "[" + ", ".join(str(v) for v in values) + "]"

    lines = [
        '"""Real solid harmonics r^l Y_lm of ace_ref as exact polynomial tables.',
        "",
        "GENERATED by derivations/real_spherical_harmonics.py -- do not edit by hand;",
        "rerun the script instead (its docstring states the convention and the derivation).",
        "",
        "Monomial form. Term q of lm = l*l + l + m (that is TERM_LM[q]) contributes",
        "TERM_COEFF[q] * x**a * y**b * z**c with (a, b, c) = TERM_POWERS[q]; the terms of lm are",
        "LM_OFFSETS[lm]:LM_OFFSETS[lm + 1], and r^l Y_lm(x, y, z) is their sum.",
        "",
        "Factorized form (used by ace_ref.one_particle.spherical).",
        "For t = l*(l+1)//2 + k (0 <= k <= l),",
        "Z_lk(s) = sum of ZPOLY_COEFF[q] * s**ZPOLY_POWERS[q] over q in",
        "ZPOLY_OFFSETS[t]:ZPOLY_OFFSETS[t + 1]; on the unit sphere",
        "Y_{l,k} = Re[(x + i y)**k] Z_lk(z) and Y_{l,-k} = Im[(x + i y)**k] Z_lk(z).",
        "",
        "TERM_COEFF_EXACT and ZPOLY_COEFF_EXACT hold the exact SymPy values of the coefficients.",
        '"""',
        "",
        "import numpy as np",
        "",
        f"LMAX_TABLE = {lmax}",
        "",
        f"LM_OFFSETS = np.array({int_list(lm_offsets)}, dtype=np.int64)",
        "",
        f"TERM_LM = np.array({int_list(term_lm)}, dtype=np.int64)",
        "",
        "TERM_POWERS = np.array([",
    ]
    lines += [f"    ({a}, {b}, {c})," for a, b, c in powers]
    lines += ["], dtype=np.int64)", "", "TERM_COEFF = np.array(["]
    lines += [f"    {c}," for c in coeffs]
    lines += ["], dtype=np.float64)", "", "TERM_COEFF_EXACT = ("]
    lines += [f'    "{e}",' for e in exact]
    lines += [")", ""]
    lines += [f"ZPOLY_OFFSETS = np.array({int_list(z_offsets)}, dtype=np.int64)", ""]
    lines += [f"ZPOLY_POWERS = np.array({int_list(z_powers)}, dtype=np.int64)", ""]
    lines += ["ZPOLY_COEFF = np.array(["]
    lines += [f"    {c}," for c in z_coeffs]
    lines += ["], dtype=np.float64)", "", "ZPOLY_COEFF_EXACT = ("]
    lines += [f'    "{e}",' for e in z_exact]
    lines += [")", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="file to write")
    parser.add_argument("--lmax", type=int, default=LMAX_TABLE, help="largest l (default 12)")
    args = parser.parse_args(argv)
    text = generate(args.lmax)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
