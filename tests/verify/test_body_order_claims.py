"""``ace-ref verify --expect-body-order`` for any calculator, the float64 zero threshold and
the plot's reference line."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones

from ace_ref import defaults
from ace_ref import verify as V
from ace_ref.cli import main


def _cluster():
    pos = np.array([[0, 0, 0], [1.1, 0.1, 0], [0.2, 1.2, 0.1], [1.0, 1.1, 0.9], [-0.3, 0.4, 1.2]])
    return Atoms("Ar5", positions=pos * 3.4 / 1.2)


def test_pair_potential_claim_passes_many_body_claim_fails():
    lj = LennardJones(sigma=3.4, epsilon=0.01, rc=12.0)
    spec = V.body_order(lj, _cluster(), progress=False)
    assert spec.apparent_body_order() == 2  # V_3.. are round-off under the float64 rule
    assert spec.check(2).passed
    assert not spec.check(1).passed
    from ase.calculators.emt import EMT

    emt = V.body_order(EMT(), Atoms("Cu5", positions=_cluster().positions * 0.75), progress=False)
    assert emt.apparent_body_order() == 5 and not emt.check(2).passed


def test_float64_threshold_sees_terms_the_relative_rule_hides():
    """A synthetic calculator: pair energies of ~50 eV plus a 4-body term of ~1e-10 eV."""

    class Tiny:
        def get_potential_energy(self, atoms):
            x = atoms.positions
            n = len(atoms)
            pairs = [(i, j) for i in range(n) for j in range(i)]
            e = sum(100 * np.exp(-np.linalg.norm(x[i] - x[j]) / 3) for i, j in pairs)
            if n == 4:
                e += 1e-12 * np.prod(x[:, 0] + 3.0)
            return float(e)

    calc = Tiny()
    spec = V.body_order(calc, _cluster()[:4], progress=False)
    assert spec.apparent_body_order() == 4
    assert spec.apparent_body_order(rtol=1e-9) == 2  # the old default under-reports
    assert not spec.check(2).passed


def test_cli_claim_and_plot(tmp_path, capsys):
    structure = tmp_path / "ar5.xyz"
    _cluster().write(structure)
    png = tmp_path / "bo.png"
    rc = main(["verify", "lj", str(structure), "--expect-body-order", "2", "--no-smoothness",
               "--quiet", "--plot", str(png)])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0 and "V_M ≈ 0 for M > 2 as claimed" in out and png.stat().st_size > 0
    rc = main(["verify", "emt", "--expect-body-order", "2", "--no-smoothness", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 1 and "> claimed 2" in out
    assert main(["verify", "lj", "--expect-body-order", "0", "--quiet"]) == 2


def test_plot_reference_line_is_the_threshold_used(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = V.body_order(LennardJones(sigma=3.4, epsilon=0.01, rc=12.0), _cluster(), progress=False)
    captured = {}
    original = plt.Figure.savefig

    def grab(fig, *args, **kwargs):
        captured["lines"] = [(ln.get_label(), ln.get_ydata()) for ln in fig.axes[0].get_lines()]
        return original(fig, *args, **kwargs)

    plt.Figure.savefig = grab
    try:
        V.plot_body_order(spec, tmp_path / "a.png")
    finally:
        plt.Figure.savefig = original
    ((label, y),) = [(lab, y) for lab, y in captured["lines"] if lab.startswith("zero threshold")]
    assert "float64 round-off bound" in label
    k = defaults.BODY_ORDER_ROUNDOFF_FACTOR
    np.testing.assert_allclose(y[1:], k * np.asarray(spec.roundoff)[1:])
    np.testing.assert_allclose(y[1:], spec.zero_tols()[1:])


def test_cutoff_is_taken_from_the_calculator():
    from ace_ref.verify.smoothness import _known_cutoff

    class Declares:
        cutoff = 4.25

    class Model:
        r_max = np.array(3.5)

    class Wraps:
        model = Model()

    assert _known_cutoff(Declares(), "H", "H") == 4.25
    assert _known_cutoff(Wraps(), "H", "H") == 3.5
    assert _known_cutoff(object(), "H", "H") is None
    from ase.calculators.emt import EMT

    # EMT's attribute rc is not where its energy ends (it truncates at rc + 0.5 Å): not read
    assert _known_cutoff(EMT(), "Cu", "Cu") is None


@pytest.mark.parametrize("bad", ["-1", "x"])
def test_bad_claim_is_refused(bad, capsys):
    with pytest.raises(SystemExit) if bad == "x" else _no_raise():
        assert main(["verify", "lj", "--expect-body-order", bad, "--quiet"]) == 2


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
