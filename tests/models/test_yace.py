""".yace export: C̃ conversion (checked by an independent NumPy evaluation), YAML types,
merging and dropping, refusals, atomic writing, LAMMPS lines, CLI. No pyace needed here; the
round trip through ML-PACE itself is tests/models/test_yace_pyace.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list
from scipy.special import sph_harm_y

from ace_ref import ACEBasis
from ace_ref.cli import main
from ace_ref.models.linear import LinearACEModel
from ace_ref.models.yace import (
    YaceExportError,
    check_exportable,
    ctilde_functions,
    dump_yace,
    export_yace,
    lammps_commands,
    yace_document,
)
from tests.structures import random_cluster

yaml = pytest.importorskip("ruamel.yaml", reason="ruamel.yaml (test extra) not installed")

E0 = {"H": -13.6, "C": -1029.5, "O": -2041.25}
CUTS = {("H", "H"): 3.5, ("C", "H"): 4.0, "default": 4.5}


def _model(elements=("H", "C", "O"), seed=0, zero=None, radial="ace1", **spec):
    spec = spec or dict(order=3, max_n=[4, 3, 2], max_l=[0, 2, 1])
    b = ACEBasis(list(elements), radial=radial, r_cut=spec.pop("r_cut", CUTS), **spec)
    c = np.random.default_rng(seed).normal(size=len(b))
    if zero is not None:
        c[zero(len(b))] = 0.0
    return LinearACEModel(b, c, {el: E0.get(el, -3.0) for el in b.elements})


def _molecule(seed=1) -> Atoms:
    return random_cluster(np.random.default_rng(seed), "C3H4O2", box=3.2, min_distance=0.9)


def _load(path: Path):
    return yaml.YAML(typ="safe").load(path.read_text())


# ------------------------------------------------------------------ the C̃ functions are right


def _ctilde_energies(model, functions, atoms) -> np.ndarray:
    """Per-atom energies from the written C̃ functions, evaluated as ML-PACE defines them:
    ``A^P_{μnlm} = Σ_j R_n(r) √(4π) Y_l^m`` (scipy, Condon–Shortley), ``E_i = E0 + Σ c̃ Re ΠA``.
    Independent of ace_ref's kernels, real harmonics and coupling tables."""
    b = model.basis
    index = {el: k for k, el in enumerate(b.elements)}
    species = np.array([index[s] for s in atoms.get_chemical_symbols()])
    i, j, D = neighbor_list("ijD", atoms, float(b.r_cut.max()))
    r = np.linalg.norm(D, axis=1)
    theta = np.arccos(np.clip(D[:, 2] / r, -1, 1))
    phi = np.mod(np.arctan2(D[:, 1], D[:, 0]), 2 * np.pi)
    L = b.l_max
    A = np.zeros((len(atoms), len(b.elements), b.n_max, L + 1, 2 * L + 1), dtype=complex)
    for k in range(len(r)):
        R = b.radials[species[i[k]]][species[j[k]]](r[k])[0][0]
        for l in range(L + 1):
            for m in range(-l, l + 1):
                Y = math.sqrt(4 * math.pi) * sph_harm_y(l, m, theta[k], phi[k])
                A[i[k], species[j[k]], :, l, m + L] += R * Y
    E = np.array([model.e0[s] for s in atoms.get_chemical_symbols()])
    for a in range(len(atoms)):
        for f in functions[species[a]]:
            for ms, ct in zip(f.ms_combs, f.ctildes, strict=True):
                prod = 1.0 + 0j
                for mu, n, l, m in zip(f.mus, f.ns, f.ls, ms, strict=True):
                    prod *= A[a, mu, n - 1, l, m + L]
                E[a] += ct * prod.real
    return E


@pytest.mark.parametrize(
    "spec",
    [
        dict(order=2, max_n=[3, 3], max_l=[0, 3]),
        dict(order=3, max_n=[3, 2, 2], max_l=[0, 2, 2]),
        dict(order=4, max_n=[2, 2, 1, 1], max_l=[0, 2, 1, 1]),
    ],
    ids=["nu2", "nu3", "nu4"],
)
def test_ctilde_functions_reproduce_model_energies(spec):
    model = _model(**spec)
    atoms = _molecule()
    functions = ctilde_functions(model)
    e0 = np.array([model.e0[s] for s in atoms.get_chemical_symbols()])
    ours = model.predict(atoms)["energies"] - e0
    assert np.abs(ours).max() > 1e-2
    theirs = _ctilde_energies(model, functions, atoms) - e0
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-10 * np.abs(ours).max())


def test_ctilde_functions_are_merged_and_half_basis():
    """One entry per monomial: no repeated m-row (after sorting m within identical slots), no
    row whose negation is also present, Σm = 0, no zero coefficient, slots sorted."""
    model = _model(order=3, max_n=[3, 3, 3], max_l=[0, 3, 2])
    for funcs in ctilde_functions(model):
        keys = set()
        for f in funcs:
            slots = list(zip(f.mus, f.ns, f.ls, strict=True))
            assert slots == sorted(slots)
            assert (f.mus, f.ns, f.ls) not in keys
            keys.add((f.mus, f.ns, f.ls))
            rows = set()
            for ms in f.ms_combs:
                assert ms.sum() == 0
                assert np.all(np.abs(ms) <= np.array(f.ls))
                canon = tuple(_canonical(slots, ms))
                assert canon == tuple(ms)
                assert tuple(_canonical(slots, -ms)) not in rows or canon == tuple(
                    _canonical(slots, -ms)
                )
                assert canon not in rows
                rows.add(canon)
            assert np.all(f.ctildes != 0)


def _canonical(slots, ms):
    """Sort m within runs of identical slots."""
    out = list(ms)
    k = 0
    while k < len(slots):
        e = k
        while e < len(slots) and slots[e] == slots[k]:
            e += 1
        out[k:e] = sorted(out[k:e])
        k = e
    return out


def test_zero_coefficients_are_dropped():
    full = _model(seed=3)
    K = full.basis.n_functions_per_species

    def zero(n):  # all of H (species 0), every other function of C and O
        return np.r_[np.arange(K), np.arange(K, n, 2)]

    sparse = _model(seed=3, zero=zero)
    f_full, f_sparse = ctilde_functions(full), ctilde_functions(sparse)
    assert f_sparse[0] == []
    for z in (1, 2):
        assert 0 < len(f_sparse[z]) < len(f_full[z])
    atoms = _molecule()
    np.testing.assert_allclose(
        _ctilde_energies(sparse, f_sparse, atoms),
        sparse.predict(atoms)["energies"],
        rtol=0,
        atol=1e-11,
    )


# ------------------------------------------------------------------ the file


def test_yaml_types_are_exact_and_values_round_trip(tmp_path):
    model = _model(order=3, max_n=[3, 2, 2], max_l=[0, 2, 1])
    path = tmp_path / "m.yace"
    export_yace(model, path, report=None)
    doc = yace_document(model)
    loaded = _load(path)
    assert list(loaded) == [
        "elements",
        "E0",
        "deltaSplineBins",
        "lmax",
        "embeddings",
        "bonds",
        "functions",
    ]

    def same(a, b, where):
        """Equal values and identical types (int stays int, float stays float)."""
        if isinstance(b, dict):
            assert isinstance(a, dict) and list(a) == list(b), where
            for k in b:
                same(a[k], b[k], f"{where}/{k}")
        elif isinstance(b, list):
            assert isinstance(a, list) and len(a) == len(b), where
            for k, (x, y) in enumerate(zip(a, b, strict=True)):
                same(x, y, f"{where}[{k}]")
        else:
            assert type(a) is type(b) and a == b, (where, a, b)

    same(loaded, doc, "")
    assert loaded["elements"] == ["H", "C", "O"]
    assert set(loaded["bonds"]) == {(a, b) for a in range(3) for b in range(3)}
    for z, funcs in loaded["functions"].items():
        assert type(z) is int
        for f in funcs:
            assert f["mu0"] == z and f["ndensity"] == 1
            assert len(f["ms_combs"]) == f["rank"] * f["num_ms_combs"]
            assert len(f["ctildes"]) == f["num_ms_combs"]
            assert all(type(x) is int for x in f["ms_combs"] + f["ns"] + f["ls"] + f["mus"])
            assert all(type(x) is float for x in f["ctildes"])
            assert all(1 <= n <= model.basis.n_max for n in f["ns"])
    bond = loaded["bonds"][(0, 1)]
    assert bond["radbasename"] == "ACE.jl.Basic" and bond["rcut"] == 4.0
    assert type(bond["p"]) is int and type(bond["maxn"]) is int and type(bond["xl"]) is float


def test_scalars_are_floats_for_yaml_1_1_readers_too():
    """PyYAML (YAML 1.1) reads ``1e-05`` as a string; the writer puts a '.' in every float."""
    text = dump_yace({"a": [1e-5, 1e16, 2.0, -0.5, 3], "b": "x"})
    assert text == 'a: [1.0e-05, 1.0e+16, 2.0, -0.5, 3]\nb: "x"\n'
    with pytest.raises(ValueError, match="non-finite"):
        dump_yace({"a": [float("nan")]})


def test_report_comes_before_the_write_and_states_the_size(tmp_path):
    model = _model(order=2, max_n=[3, 2], max_l=[0, 2])
    path = tmp_path / "sub" / "m.yace"
    seen = []

    def report(msg):
        assert not path.exists()
        seen.append(msg)

    out = export_yace(model, path, report=report)
    assert len(seen) == 1 and f"{out.n_bytes} bytes" in seen[0]
    assert path.stat().st_size == out.n_bytes
    functions = ctilde_functions(model)
    assert out.n_functions == {el: len(fs) for el, fs in zip("HCO", functions, strict=True)}
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.yace"]


def test_small_n_max_gets_two_radial_functions_in_the_file(tmp_path):
    """ML-PACE's ACE.jl.Basic evaluator writes P(1) even for maxn = 1; we always give two."""
    model = _model(elements=("Ta",), order=2, max_n=[1, 1], max_l=[0, 2], r_cut=5.0)
    doc = yace_document(model)
    bond = doc["bonds"][(0, 0)]
    assert bond["maxn"] == 2 and len(bond["recursion_coefficients"]["A"]) == 2
    assert max(n for f in doc["functions"][0] for n in f["ns"]) == 1


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("radial", ["bessel", "polynomial"])
def test_radial_bases_without_a_family_are_written_as_chebpow(radial):
    """Bessel and polynomial bonds become ``ChebPow`` (λ = 1) bonds whose coefficients
    reproduce every ``R_n`` (for every ``l``) on a grid the representation never saw; rank-1
    functions are rewritten in the ``g_k`` and reproduce ``Σ_n c̃_n R_n``."""
    from ace_ref.models.pace_radial import chebpow_basis

    model = _model(radial=radial, order=2, max_n=[3, 2], max_l=[0, 2])
    doc = yace_document(model)
    b = model.basis
    r = np.linspace(0.05, 4.45, 97)
    for (a, c), bond in doc["bonds"].items():
        rad = b.radials[a][c]
        assert bond["radbasename"] == "ChebPow" and bond["radparameters"] == [1.0]
        assert bond["rcut"] == rad.r_cut and bond["nradmax"] == b.n_max
        crad = np.array(bond["radcoefficients"])  # (n, l, k)
        assert crad.shape == (b.n_max, doc["lmax"] + 1, bond["nradbasemax"])
        inside = r[r < rad.r_cut]
        g, _ = chebpow_basis(inside, rad.r_cut, bond["nradbasemax"])
        R, _ = rad(inside)
        for l in range(doc["lmax"] + 1):
            assert np.abs(g @ crad[:, l, :].T - R).max() < 1e-12 * np.abs(R).max()
    # rank 1: Σ_k c̃_k g_k equals Σ_n c̃_n R_n of the C̃ functions of our own R_n
    ours = ctilde_functions(model)
    for z in range(len(b.elements)):
        for mu in range(len(b.elements)):
            rad = b.radials[z][mu]
            inside = r[r < rad.r_cut]
            R, _ = rad(inside)
            pair = sum(
                f.ctildes[0] * R[:, f.ns[0] - 1] for f in ours[z] if f.rank == 1 and f.mus == (mu,)
            )
            written = [f for f in doc["functions"][z] if f["rank"] == 1 and f["mus"] == [mu]]
            nb = doc["bonds"][(z, mu)]["nradbasemax"]
            assert written and max(f["ns"][0] for f in written) <= nb
            g, _ = chebpow_basis(inside, rad.r_cut, nb)
            theirs = sum(f["ctildes"][0] * g[:, f["ns"][0] - 1] for f in written)
            assert np.abs(theirs - pair).max() < 1e-11 * np.abs(pair).max()
    higher = [f for f in doc["functions"][0] if f["rank"] > 1]
    assert higher and max(n for f in higher for n in f["ns"]) <= b.n_max


def test_refuses_a_radial_basis_the_chebpow_family_cannot_represent(tmp_path):
    """An Agnesi transform with ``s^{1.5}`` (q = 2.5, p_A = 1) is singular at r = 0: 256
    ChebPow functions do not reach 1e-12, so the export is refused, naming the pair and
    the error, and nothing is written."""
    b = ACEBasis(
        ["H", "C"],
        2,
        max_n=[3, 2],
        max_l=[0, 1],
        r_cut=4.5,
        radial="polynomial",
        radial_options={"transform": "agnesi", "q": 2.5, "agnesi_p": 1.0, "r_0": 1.5},
    )
    model = LinearACEModel(b, np.ones(len(b)), {"H": -13.6, "C": -1029.5})
    path = tmp_path / "m.yace"
    path.write_text("old")
    with pytest.raises(
        YaceExportError,
        match=r"radial basis 'polynomial' of pair H-H has no ML-PACE form: .*256 ChebPow "
        r"functions reach a relative error of .*radial='sbessel'",
    ):
        export_yace(model, path, report=None)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yace"]


def test_cli_export_refuses_what_chebpow_cannot_represent(tmp_path, capsys):
    """The command line: rc 2, the reason on stderr, no traceback, no file written."""
    b = ACEBasis(
        ["H"],
        2,
        max_n=[2, 2],
        max_l=[0, 1],
        r_cut=4.5,
        radial="polynomial",
        radial_options={"transform": "agnesi", "q": 2.5, "agnesi_p": 1.0, "r_0": 1.5},
    )
    npz = LinearACEModel(b, np.ones(len(b)), {"H": -13.6}).save(tmp_path / "m.npz")
    out = tmp_path / "m.yace"
    assert main(["export", str(npz), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "has no ML-PACE form" in err and "--radial sbessel" in err
    assert "Traceback" not in err and not out.exists()


def test_refuses_other_models_and_bases():
    with pytest.raises(YaceExportError, match="LinearACEModel"):
        check_exportable(object())

    class TwoLayerBasis(ACEBasis):
        pass

    b = TwoLayerBasis("Ta", order=2, max_n=[2, 2], max_l=[0, 1], radial="ace1")
    model = LinearACEModel(b, np.ones(len(b)), {"Ta": 0.0})
    with pytest.raises(YaceExportError, match="TwoLayerBasis, not an ace_ref ACEBasis.*two-layer"):
        check_exportable(model)

    from ace_ref.basis.sum_basis import pair_and_many_body
    from ace_ref.models.load import model_for

    many = ACEBasis("Ta", order=2, max_n=[2, 2], max_l=[0, 1], r_cut=4.0)
    summed = pair_and_many_body("Ta", pair_r_cut=5.0, pair_max_n=4, many_body=many)
    model = model_for(summed, np.ones(len(summed)), {"Ta": 0.0})
    with pytest.raises(YaceExportError, match=r"SumBasis .*--pair-rcut.*one cutoff"):
        check_exportable(model)


def test_refuses_a_real_two_layer_model():
    from ace_ref.basis.two_layer import TwoLayerBasis
    from ace_ref.models.two_layer import TwoLayerModel

    layer1 = ACEBasis("Ta", order=2, max_n=[2, 2], max_l=[0, 1], radial="ace1")
    basis = TwoLayerBasis(layer1, lmax_hidden=1, max_n=2)
    model = TwoLayerModel(basis, np.ones(len(basis)), {"Ta": 0.0})
    with pytest.raises(YaceExportError, match="multi-layer"):
        check_exportable(model)


def test_refuses_wrong_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"\.yace"):
        export_yace(_model(order=2, max_n=[2, 2], max_l=[0, 1]), tmp_path / "m.yaml")


# ------------------------------------------------------------------ LAMMPS lines and CLI


def test_lammps_commands():
    assert lammps_commands(["H", "C", "O"], "m.yace") == (
        "pair_style pace recursive",
        "pair_coeff * * m.yace H C O",
    )
    assert lammps_commands(["H", "C"], "m.yace", ["C", "C", "NULL", "H"], "product") == (
        "pair_style pace product",
        "pair_coeff * * m.yace C C NULL H",
    )
    with pytest.raises(ValueError, match=r"\['Ta'\] are not in the model"):
        lammps_commands(["H", "C"], "m.yace", ["H", "Ta"])
    with pytest.raises(ValueError, match="evaluator"):
        lammps_commands(["H"], "m.yace", evaluator="fast")
    with pytest.raises(ValueError, match="spaces"):
        lammps_commands(["H"], "my model.yace")


def test_cli_export_prints_the_lines_the_file_needs(tmp_path, capsys):
    model = _model(elements=("Ta",), order=2, max_n=[3, 2], max_l=[0, 2], r_cut=5.0)
    npz = model.save(tmp_path / "ta.npz")
    out = tmp_path / "ta.yace"
    assert main(["export", str(npz), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert any(line.startswith(f"writing {out}: {out.stat().st_size} bytes") for line in lines)
    assert "pair_style pace recursive" in lines
    coeff = next(line for line in lines if line.startswith("pair_coeff"))
    words = coeff.split()
    assert words[:3] == ["pair_coeff", "*", "*"] and Path(words[3]) == out
    assert words[4:] == _load(out)["elements"] == ["Ta"]
    # a type map naming an element the file lacks is refused before anything is written
    bad = tmp_path / "bad.yace"
    assert main(["export", str(npz), "-o", str(bad), "--types", "Ta", "W"]) == 2
    assert "['W'] are not in the model" in capsys.readouterr().err and not bad.exists()


def test_cli_export_writes_a_bessel_model_and_says_how(tmp_path, capsys):
    model = _model(
        elements=("Ta",), radial="bessel", order=2, max_n=[3, 2], max_l=[0, 2], r_cut=5.0
    )
    npz = model.save(tmp_path / "ta.npz")
    assert main(["export", str(npz), "-o", str(tmp_path / "ta.yace")]) == 0
    out = capsys.readouterr().out
    assert "radial basis 'bessel' written in ML-PACE's ChebPow family" in out
    assert _load(tmp_path / "ta.yace")["bonds"][(0, 0)]["radbasename"] == "ChebPow"


def test_model_method_and_periodic_structure(tmp_path):
    """``model.export_yace`` is the same writer; the independent evaluation also holds for a
    periodic cell (images of the atom itself among the neighbours)."""
    model = _model(elements=("Ta",), order=3, max_n=[3, 2, 2], max_l=[0, 2, 1], r_cut=5.0)
    out = model.export_yace(tmp_path / "ta.yace", report=None)
    assert out.pair_coeff.endswith("ta.yace Ta")
    atoms = bulk("Ta", "bcc", a=3.3, cubic=True)
    atoms.rattle(0.1, seed=2)
    np.testing.assert_allclose(
        _ctilde_energies(model, ctilde_functions(model), atoms),
        model.predict(atoms)["energies"],
        rtol=0,
        atol=1e-10,
    )
