"""The background warm-up compiles exactly the kernels (and signatures) a fit needs after its
first compilation (the pair basis): a later process finds them in the Numba cache and
compiles none of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ace_ref
from ace_ref import ACEBasis
from ace_ref.fit import warmup
from ace_ref.fit.data import pair_cutoffs_from_data, read_configs
from tests.paths import ACAC

AFTER_THE_FIT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from ace_ref.basis.ace import ACEBasis
    from ace_ref.fit.data import read_configs
    from ace_ref.fit.assembly import LinearSystem
    from ace_ref.fit.solvers import solve
    from ace_ref.models.linear import LinearACEModel
    from ace_ref.kernels import features, predict
    from ace_ref.fit import _band, _bidiagonal

    from ace_ref.fit.assembly import Weights
    from ace_ref.fit.cost import design_rows_as_assembled

    basis = ACEBasis.from_dict(json.load(open(sys.argv[1])))
    config = read_configs([sys.argv[2]])[0]
    atoms = config.atoms
    design_rows_as_assembled(basis, Weights())(config)
    rng = np.random.default_rng(1)
    LinearACEModel(basis, rng.normal(size=len(basis)) * 1e-3).predict(atoms)
    basis.features(atoms)
    K = 150
    R = np.triu(rng.normal(size=(K, K))) + 5 * np.eye(K)
    solve(LinearSystem("qr", 1e3, 3 * K, 2, R=R, z=rng.normal(size=K)), "blr", np.ones(K),
          committee_size=4)
    kernels = [features.atomic_base, features._features_and_pair_gradients,
               features._scatter_design_rows,
               predict._energy_forces, features._product_features, _band.tikhonov_band,
               _bidiagonal.tikhonov_bidiagonal, _bidiagonal.bidiagonal_times]
    print(json.dumps({k.py_func.__name__: [len(k.stats.cache_hits), len(k.stats.cache_misses)]
                      for k in kernels}))
    """
)


@pytest.fixture(scope="module")
def cli_like_basis(coupling_cache):
    """A basis built as ``ace-ref fit`` builds one: cutoffs per pair from the data,
    per-element degree budgets."""
    train = read_configs([ACAC / "train_300K.xyz"])[:20]
    r_cut = pair_cutoffs_from_data(train, ["H", "C", "O"], 4.5)
    return ACEBasis(
        ["H", "C", "O"],
        3,
        max_degree=[6, 6, 5],
        r_cut=r_cut,
        element_degree_scale={"H": 0.8, "C": 1.1, "O": 1},
        cache_dir=coupling_cache,
    )


def test_a_later_process_finds_every_post_fit_kernel_compiled(
    cli_like_basis, coupling_cache, tmp_path, monkeypatch
):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba_cache"))  # a first run
    monkeypatch.setenv("ACE_REF_CACHE", str(coupling_cache))
    monkeypatch.setattr(warmup, "kernels_cached", lambda: False)  # this process's cache is warm
    background = warmup.Background()
    background.start()
    process = background.process
    assert process is not None
    background.send(cli_like_basis)
    assert process.wait(timeout=600) == 0
    background.stop()  # already ended: nothing to do
    spec = tmp_path / "basis.json"
    spec.write_text(json.dumps(cli_like_basis.to_dict()))
    script = tmp_path / "after_the_fit.py"
    script.write_text(AFTER_THE_FIT)
    # the later process imports the same ace_ref as this one (a checkout or the installed one)
    package_parent = str(Path(ace_ref.__file__).resolve().parents[1])
    later = subprocess.run(
        [sys.executable, str(script), str(spec), str(ACAC / "test_MD_300K.xyz")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": package_parent},
    )
    assert later.returncode == 0, later.stderr
    stats = json.loads(later.stdout.strip().splitlines()[-1])
    for name, (hits, misses) in stats.items():
        assert (hits, misses) == (1, 0), f"{name}: {hits} cache hits, {misses} compiled anew"


def test_no_warm_up_on_a_warm_cache_and_none_for_another_basis(monkeypatch):
    monkeypatch.setattr(warmup, "kernels_cached", lambda: True)
    background = warmup.Background()
    background.start()
    assert background.process is None
    background.send(object())  # no process: nothing happens
    background.stop()
    monkeypatch.setattr(warmup, "kernels_cached", lambda: False)
    background.start()
    process = background.process
    background.send(object())  # not an ACEBasis: the process ends without work
    assert process.wait(timeout=120) == 0
    background.stop()
    assert background.process is None
