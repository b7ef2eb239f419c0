"""ace_ref.verify: our models pass every check; deliberately broken calculators are caught."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from ace_ref import ACEBasis, defaults
from ace_ref import verify as V
from ace_ref.cli import main
from ace_ref.models.linear import LinearACEModel
from tests.structures import random_cluster

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def model(coupling_cache):
    basis = ACEBasis(
        ["H", "C"], order=2, max_n=[3, 2], max_l=[0, 2], r_cut=4.0, cache_dir=coupling_cache
    )
    c = np.random.default_rng(0).normal(size=len(basis)) * 0.1
    return LinearACEModel(basis, c)


@pytest.fixture(scope="module")
def calc(model):
    return model.calculator()


def _cluster(seed=0):
    """5 atoms (H3C2), pairwise 1.0–3.2 Å apart (all within the 4 Å cutoff), no symmetry,
    atom 0 at the origin."""
    atoms = random_cluster(np.random.default_rng(seed), "HCHCH", box=1.8, min_distance=1.0)
    atoms.positions -= atoms.positions[0]
    return atoms


def _box():
    atoms = Atoms(
        "H2C2",
        positions=[[0, 0, 0], [1.1, 0.2, 0.1], [0.3, 1.5, 0.2], [1.5, 1.4, 1.6]],
        cell=[[3.1, 0, 0], [0.3, 3.3, 0], [0.2, -0.4, 3.6]],
        pbc=True,
    )
    return atoms


def _by_name(rows):
    return {f"{r.check}/{r.name}": r for r in rows}


def _complex_step_gradient(energy, pos):
    """Exact gradient of an analytic energy(pos) by the complex step ``Im E(x + i h) / h``."""
    h = 1e-30
    grad = np.zeros(pos.shape)
    for i, a in itertools.product(range(pos.shape[0]), range(3)):
        p = pos.astype(complex)
        p[i, a] += 1j * h
        grad[i, a] = np.imag(energy(p)) / h
    return grad


class Modified(Calculator):
    """A base calculator plus an extra energy term (forces by exact complex-step gradient),
    optionally with scaled forces/stress or raising for some structures."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, base, term=None, force_scale=1.0, stress_scale=1.0, fail_if=None):
        super().__init__()
        self.base, self.term = base, term
        self.force_scale, self.stress_scale, self.fail_if = force_scale, stress_scale, fail_if

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if self.fail_if is not None and self.fail_if(self.atoms):
            raise RuntimeError(f"boom: cannot handle {self.atoms.get_chemical_formula()}")
        a = self.atoms.copy()
        a.calc = self.base
        E, F = a.get_potential_energy(), a.get_forces()
        if self.term is not None:
            E += float(np.real(self.term(a.positions)))
            F = F - _complex_step_gradient(self.term, a.positions)
        self.results = {"energy": E, "free_energy": E, "forces": F * self.force_scale}
        if np.all(a.pbc):
            self.results["stress"] = a.get_stress() * self.stress_scale


def lab_frame_term(pos, k=0.1):
    """k Σ_{i<j} (r_ij · e_x)²: translation- and permutation-invariant, not rotation-invariant."""
    x = pos[:, 0]
    d = x[:, None] - x[None, :]
    return 0.5 * k * np.sum(d * d)


def four_body_term(pos, k=0.05, s2=4.0):
    """k Σ_{i<j<k<l} exp(−Σ_{pairs of the four} r²/s²): a genuine 4-body energy."""
    total = 0.0
    for quad in itertools.combinations(range(len(pos)), 4):
        r2 = sum(np.sum((pos[a] - pos[b]) ** 2) for a, b in itertools.combinations(quad, 2))
        total = total + np.exp(-r2 / s2)
    return k * total


def chiral_term(pos, k=0.1):
    """k Σ_{i,j,k,l distinct} r_ij·(r_ik × r_il) exp(−(0.1 r_ij² + 0.2 r_ik² + 0.3 r_il²)):
    invariant under rotations, translations and permutations, odd under reflections."""
    total = 0.0
    for i, j, m, l in itertools.permutations(range(len(pos)), 4):
        a, b, c = pos[j] - pos[i], pos[m] - pos[i], pos[l] - pos[i]
        triple = a @ np.cross(b, c)
        w = np.exp(-(0.1 * (a @ a) + 0.2 * (b @ b) + 0.3 * (c @ c)))
        total = total + triple * w
    return k * total


def step_term(pos, height=1e-3, r0=3.0):
    """height × (number of pairs closer than r0): an energy discontinuity at r0."""
    p = np.real(pos)
    d = p[:, None, :] - p[None, :, :]
    r2 = np.sum(d * d, axis=-1)
    return height * 0.5 * (np.sum(r2 < r0**2) - len(p))


# ---------------------------------------------------------------- our models pass
def test_our_model_passes_the_full_report(calc):
    rows = V.verify_report(calc, _cluster())
    assert rows and all(r.passed for r in rows), V.format_report(rows)
    checks = {r.check for r in rows}
    assert checks == {"invariance", "equivariance", "forces", "body order", "smoothness"}
    names = _by_name(rows)
    for kind in ("rotation", "reflection", "translation", "permutation"):
        for q in ("energy", "forces"):
            r = names[f"invariance/{kind}: {q}"]
            assert r.max_error <= r.tol == pytest.approx(1e-8 * max(r.scale, V.FLOORS[q]))
    assert names["invariance/rotation: energy"].max_error < 1e-12
    # three species pairs scanned through the 4 Å cutoff
    assert sum(r.check == "smoothness" for r in rows) == 6
    text = V.format_report(rows)
    assert "FAIL" not in text and f"{len(rows)}/{len(rows)} checks passed" in text


def test_our_model_periodic_stress_and_rewrapping(calc):
    rows = V.check_invariance(calc, _box()) + V.check_forces(calc, _box())
    names = _by_name(rows)
    assert all(r.passed for r in rows), V.format_report(rows)
    for kind in ("rotation", "reflection", "translation", "permutation", "re-wrapping"):
        assert f"invariance/{kind}: stress" in names
    stress = names["forces/stress vs (1/V) dE/dε"]
    assert stress.scale > 1e-4 and stress.max_error < 1e-8
    curve = names["forces/forces vs −dE/dx"].details
    assert curve["steps"] == list(V.DEFAULT_STEPS) and len(curve["errors"]) == 5
    assert curve["best_step"] == curve["steps"][int(np.argmin(curve["errors"]))]
    # truncation error dominates at the largest step: the curve is not flat
    assert curve["errors"][0] > 100 * min(curve["errors"])


@pytest.mark.parametrize("order", [1, 2, 3])
def test_body_order_of_linear_models(coupling_cache, order):
    basis = ACEBasis(
        ["H", "C"],
        order=order,
        max_n=[3, 2, 2][:order],
        max_l=[0, 2, 1][:order],
        r_cut=4.0,
        cache_dir=coupling_cache,
    )
    c = np.random.default_rng(order).normal(size=len(basis)) * 0.1
    calc = LinearACEModel(basis, c, {"H": -0.5, "C": -1.5}).calculator()
    cluster = _cluster(seed=order)
    spec = V.body_order(calc, cluster, progress=False)
    assert spec.n_evaluations == 2**5 - 1 and spec.error is None
    assert spec.zero_tol(rtol=1e-9) == pytest.approx(1e-9 * spec.energy_scale)
    tol = dict(zip(spec.M, spec.zero_tols(), strict=True))  # float64 round-off bound per M
    eps = np.finfo(float).eps
    kappa = defaults.BODY_ORDER_ROUNDOFF_FACTOR
    assert tol[5] == pytest.approx(kappa * spec.roundoff[4]) and spec.roundoff[4] > 16 * eps
    V_of = dict(zip(spec.M, spec.max_abs, strict=True))
    assert V_of[1] == pytest.approx(1.5)  # isolated C: E0 only
    assert V_of[order + 1] > 1e4 * tol[order + 1]  # clearly non-zero at ν + 1
    for M in range(order + 2, 6):
        assert V_of[M] <= tol[M]  # round-off only above ν + 1
    assert spec.apparent_body_order() == order + 1
    assert spec.check(order + 1).passed
    wrong = spec.check(order)
    assert not wrong.passed and f"body order {order + 1} > claimed {order}" in wrong.message


def test_body_order_matches_pair_potential_exactly():
    """A pure pair potential: V_2({i,j}) = φ(r_ij), V_M = 0 for M > 2, V_1 = 0."""
    lj = LennardJones(sigma=2.0, epsilon=0.01, rc=5.0)
    cluster = V.default_structure(lj)
    spec = V.body_order(lj, cluster, progress=False)
    d = cluster.get_all_distances()[np.triu_indices(len(cluster), 1)]
    e0 = 4 * 0.01 * ((2.0 / 5.0) ** 12 - (2.0 / 5.0) ** 6)
    phi = 4 * 0.01 * ((2.0 / d) ** 12 - (2.0 / d) ** 6) - e0
    assert spec.max_abs[1] == pytest.approx(np.abs(phi).max(), rel=1e-12)
    assert spec.mean_abs[1] == pytest.approx(np.abs(phi).mean(), rel=1e-12)
    assert spec.max_abs[0] == 0.0
    assert max(spec.max_abs[2:]) <= spec.zero_tol()
    assert spec.n_subsets == [5, 10, 10, 5, 1]


def test_emt_is_many_body():
    spec = V.body_order(EMT(), V.default_structure(EMT()), progress=False)
    V_of = dict(zip(spec.M, spec.max_abs, strict=True))
    assert V_of[4] > 1e-2 and V_of[5] > 1e-2  # eV, far above round-off
    assert spec.apparent_body_order() == 5
    assert spec.check().passed and "apparent body order 5" in spec.check().message
    assert not spec.check(3).passed


def test_body_order_announces_cost_and_sampling(calc, capsys):
    spec = V.body_order(calc, _cluster(), progress=True)
    err = capsys.readouterr().err
    assert "31 energy evaluations" in err
    # sampling with K ≥ C(n, M) takes every subset: identical spectrum
    sampled = V.body_order(calc, _cluster(), progress=False, sample=100)
    assert sampled.max_abs == spec.max_abs and sampled.n_evaluations == 31


def test_large_cluster_refused_unless_sampled(calc):
    rng = np.random.default_rng(3)
    grid = np.array(list(itertools.product(range(5), range(4), range(1))), dtype=float) * 1.4
    big = Atoms("HC" * 10, positions=grid + rng.normal(scale=0.1, size=grid.shape))
    with pytest.raises(ValueError, match=r"20-atom cluster needs 1048575 .*2\^20.*sample=K"):
        V.body_order(calc, big, progress=False)
    spec = V.body_order(calc, big, progress=False, sample=4, max_M=5, seed=1)
    assert spec.sample == 4 and spec.n_subsets == [4, 4, 4, 4, 4]
    assert spec.n_evaluations <= 4 * (2 + 4 + 8 + 16 + 32)
    assert spec.max_abs[2] > 1e-4 * spec.energy_scale
    assert max(spec.max_abs[3:]) <= spec.zero_tol()
    with pytest.raises(ValueError, match="max_M must be a positive integer"):
        V.body_order(calc, big, max_M=0, sample=2, progress=False)
    with pytest.raises(ValueError, match="finite cluster"):
        V.body_order(calc, _box(), progress=False)


# ---------------------------------------------------------------- equivariance
def test_equivariance_of_basis_features_and_wrong_features(model):
    atoms = _cluster()

    def good(a):
        return model.basis.features(a, L=1)

    def swapped(a):
        return model.basis.features(a, L=1)[..., [2, 1, 0]]

    def pseudo(a):  # r_01 × r_02 in the real l = 1 order (y, z, x): a pseudo-vector
        return np.cross(a.positions[1] - a.positions[0], a.positions[2] - a.positions[0])[[1, 2, 0]]

    rows = V.check_equivariance(good, atoms, 1)
    assert [r.name for r in rows] == ["L=1 rotation", "L=1 reflection"]
    assert all(r.passed for r in rows) and rows[0].scale > 0.1
    bad = V.check_equivariance(swapped, atoms, 1)
    assert not any(r.passed for r in bad) and bad[0].max_error > 1e-3
    ps = V.check_equivariance(pseudo, atoms, 1)
    assert ps[0].passed and not ps[1].passed and "pseudo-tensor" in ps[1].message
    shape = V.check_equivariance(good, atoms, 2)
    assert len(shape) == 1 and not shape[0].passed and "2L+1 = 5" in shape[0].message


# ---------------------------------------------------------------- broken calculators caught
def test_lab_frame_term_breaks_rotations_only(calc):
    broken = Modified(calc, term=lab_frame_term)
    atoms = _cluster()
    names = _by_name(V.check_invariance(broken, atoms))
    for kind in ("rotation", "reflection"):
        assert not names[f"invariance/{kind}: energy"].passed
        assert not names[f"invariance/{kind}: forces"].passed
    for kind in ("translation", "permutation"):
        assert names[f"invariance/{kind}: energy"].passed
        assert names[f"invariance/{kind}: forces"].passed
    assert names["invariance/rotation: energy"].max_error > 1e-3
    # its forces are the exact gradient: the derivative check passes
    assert all(r.passed for r in V.check_forces(broken, atoms))


def test_forces_not_gradient_are_caught(calc):
    broken = Modified(calc, force_scale=1.1)
    rows = V.check_forces(broken, _cluster())
    assert len(rows) == 1 and not rows[0].passed
    # reported F = 1.1 (−∇E): error 0.1 |∇E| = scale / 11 at the largest force
    assert rows[0].max_error == pytest.approx(rows[0].scale / 11, rel=1e-4)
    assert all(r.passed for r in V.check_invariance(broken, _cluster()))
    # stress scaled on a periodic structure: only the stress row fails
    rows = _by_name(V.check_forces(Modified(calc, stress_scale=1.1), _box()))
    assert rows["forces/forces vs −dE/dx"].passed
    assert not rows["forces/stress vs (1/V) dE/dε"].passed


def test_four_body_term_in_a_three_body_model_is_caught(calc):
    cluster = _cluster()
    honest = V.body_order(calc, cluster, progress=False)
    assert honest.check(3).passed
    broken = Modified(calc, term=four_body_term)
    spec = V.body_order(broken, cluster, progress=False)
    row = spec.check(3)
    assert not row.passed and "body order 4 > claimed 3" in row.message
    V_of = dict(zip(spec.M, spec.max_abs, strict=True))
    assert V_of[4] > 1e-6 and V_of[5] <= spec.zero_tol()  # exactly 4-body, nothing above
    # the term is otherwise a perfectly good potential
    assert all(r.passed for r in V.check_invariance(broken, cluster))
    assert all(r.passed for r in V.check_forces(broken, cluster))


def test_chiral_term_fails_reflections_only(calc):
    broken = Modified(calc, term=chiral_term)
    rows = V.check_invariance(broken, _cluster())
    failed = [r for r in rows if not r.passed]
    assert failed and all(r.name.startswith("reflection") for r in failed)
    energy = _by_name(rows)["invariance/reflection: energy"]
    assert energy.max_error > 1e-4
    assert "not reflection-invariant" in energy.message and "rotations pass" in energy.message


def test_discontinuities_are_located(calc):
    broken = Modified(calc, term=step_term)
    rows = _by_name(V.check_smoothness(broken, species=("H", "H"), r_cut=3.0, width=0.1))
    energy, forces = rows["smoothness/H-H dimer: energy"], rows["smoothness/H-H dimer: forces"]
    assert not energy.passed and energy.max_error == pytest.approx(1e-3, rel=0.01)
    assert abs(energy.details["at_r"] - 3.0) <= energy.details["h"]
    assert forces.passed
    # ASE's unsmoothed LennardJones: energy shifted to 0 at rc, but the force jumps there
    lj = _by_name(V.check_smoothness(LennardJones(sigma=2.0, epsilon=0.01, rc=5.0), ("Ar", "Ar")))
    assert lj["smoothness/Ar-Ar dimer: energy"].passed
    f = lj["smoothness/Ar-Ar dimer: forces"]
    assert not f.passed and abs(f.details["at_r"] - 5.0) <= f.details["h"]
    assert "jump of" in f.message


def test_calculator_exceptions_become_failed_rows(calc):
    always = Modified(calc, fail_if=lambda a: True)
    rows = V.verify_report(always, _cluster())
    assert rows and not any(r.passed for r in rows)
    assert all("boom" in r.message for r in rows)
    assert {r.check for r in rows} == {"invariance", "forces", "body order", "smoothness"}
    # failing only for isolated atoms: only the body-order row fails, and says where
    single = Modified(calc, fail_if=lambda a: len(a) == 1)
    rows = V.verify_report(single, _cluster(), smoothness=False)
    failed = [r for r in rows if not r.passed]
    assert [r.check for r in failed] == ["body order"]
    assert "RuntimeError on the subset [0]" in failed[0].message
    # failing only once atom 0 leaves the origin: rotations pass, the other kinds fail
    moved = Modified(calc, fail_if=lambda a: np.abs(a.positions[0]).max() > 1e-9)
    atoms = _cluster()
    assert np.all(atoms.positions[0] == 0)
    inv = _by_name(V.check_invariance(moved, atoms))
    assert inv["invariance/rotation: forces"].passed and inv["invariance/reflection: energy"].passed
    assert (
        not inv["invariance/translation"].passed and "boom" in inv["invariance/translation"].message
    )
    fd = V.check_forces(moved, atoms)
    assert not fd[0].passed and "boom" in fd[0].message
    # features that raise
    eq = V.check_equivariance(lambda a: 1 / 0, _cluster(), 1)
    assert not eq[0].passed and "ZeroDivisionError" in eq[0].message
    assert json.loads(json.dumps([r.to_dict() for r in rows]))


# ---------------------------------------------------------------- CLI
def test_cli_emt_writes_plot_and_json(tmp_path, capsys):
    png, out = tmp_path / "bo.png", tmp_path / "report.json"
    code = main(["verify", "emt", "--plot", str(png), "--json", str(out), "--quiet"])
    rows = json.loads(out.read_text())
    assert code == (0 if all(r["passed"] for r in rows) else 1)
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert not list(tmp_path.glob("*.tmp"))
    text = capsys.readouterr().out
    assert "Cu5" in text and "body order" in text and "checks passed" in text
    by = {f"{r['check']}/{r['name']}": r for r in rows}
    assert by["body order/5-atom cluster"]["details"]["max_abs"][3] > 1e-2
    # symmetry, derivatives and body order are fine; EMT's neighbour-list cutoff makes a
    # small jump (ASE's EMT truncates its Fermi-function cutoff at rc + 0.5 Å)
    assert all(r["passed"] for r in rows if r["check"] != "smoothness")
    assert code == 1 and any(not r["passed"] for r in rows if r["check"] == "smoothness")
    # --max-M limits the subset sizes of the spectrum
    assert main(["verify", "emt", "--max-M", "3", "--json", str(out), "--quiet"]) == 1
    spectrum = next(r for r in json.loads(out.read_text()) if r["check"] == "body order")
    assert spectrum["details"]["M"] == [1, 2, 3] and spectrum["details"]["n_evaluations"] == 25
    assert main(["verify", "emt", "--max-M", "0"]) == 2


def test_cli_model_file_passes(tmp_path, model, capsys):
    path = model.save(tmp_path / "model.npz")
    png = tmp_path / "spectrum.png"
    assert main(["verify", str(path), "--plot", str(png), "--quiet"]) == 0
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert "FAIL" not in capsys.readouterr().out
    # periodic structure from a file: stress rows and a cluster cut out for body order
    struct = tmp_path / "box.xyz"
    _box().write(struct)
    assert main(["verify", str(path), str(struct), "--quiet", "--no-smoothness"]) == 0
    out = capsys.readouterr().out
    assert "re-wrapping: stress" in out and "6-atom cluster" in out


def test_cli_exit_codes(tmp_path, capsys):
    cluster = tmp_path / "ar.xyz"
    V.default_structure(LennardJones(**V.LJ_PARAMETERS)).write(cluster)
    assert main(["verify", "lj", str(cluster), "--quiet"]) == 1  # LJ force jump at rc
    assert main(["verify", "ase.calculators.emt:EMT", "--quiet", "--no-smoothness"]) == 0
    assert main(["verify", str(tmp_path / "missing.npz")]) == 2
    assert main(["verify", "no_such_module_xyz:factory"]) == 2
    assert main(["verify", "nonsense"]) == 2
    assert main(["verify", "emt", str(tmp_path / "missing.xyz")]) == 2
    (tmp_path / "garbage.xyz").write_text("not a structure\n")
    assert main(["verify", "emt", str(tmp_path / "garbage.xyz")]) == 2
    err = capsys.readouterr().err
    assert "unknown calculator 'nonsense'" in err and "does not exist" in err
    assert math.isfinite(V.LJ_PARAMETERS["rc"])
