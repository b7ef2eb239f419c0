"""Fixtures of the neural-code tests: small random-weight float64 mace-torch models.

Every test here needs the ``[neural]`` extra (CPU PyTorch, mace-torch, e3nn) and skips with
that reason when it is absent. PyTorch runs on one thread (``torch.set_num_threads(1)``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # e3nn 0.4 with torch ≥ 2.6
torch = pytest.importorskip(
    "torch", reason="the [neural] extra is not installed: pip install '.[neural]'"
)
pytest.importorskip("mace", reason="mace-torch is not installed: pip install '.[neural]'")
pytest.importorskip("e3nn", reason="e3nn is not installed: pip install '.[neural]'")

from tests.structures import random_cluster  # noqa: E402

ELEMENTS = ["H", "C", "O"]


def make_mace(
    correlation=3, residual_first=False, interactions=1, channels=4, max_ell=2, seed=0,
    hidden=None,
):  # fmt: skip
    """A float64 MACE on H, C, O with all weights randomised (seeded): r_max 4 Å, 6 Bessel
    functions, cutoff p = 5, radial MLP [16, 16]; hidden irreps ``hidden`` (default
    ``{channels}x0e``; a one-layer model keeps only the scalars anyway)."""
    import warnings

    warnings.filterwarnings("ignore", module="e3nn")
    warnings.filterwarnings("ignore", message=".*TorchScript.*")
    from e3nn import o3
    from mace.modules import (
        MACE,
        RealAgnosticInteractionBlock,
        RealAgnosticResidualInteractionBlock,
    )

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    with torch.random.fork_rng():
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            model = MACE(
                r_max=4.0, num_bessel=6, num_polynomial_cutoff=5, max_ell=max_ell,
                interaction_cls=RealAgnosticResidualInteractionBlock,
                interaction_cls_first=(
                    RealAgnosticResidualInteractionBlock if residual_first
                    else RealAgnosticInteractionBlock
                ),
                num_interactions=interactions, num_elements=3,
                hidden_irreps=o3.Irreps(hidden or f"{channels}x0e"), MLP_irreps=o3.Irreps("8x0e"),
                atomic_energies=np.array([-1.0, -2.0, -3.0]), avg_num_neighbors=5.0,
                atomic_numbers=[1, 6, 8], correlation=correlation,
                gate=torch.nn.functional.silu, radial_MLP=[16, 16],
            )  # fmt: skip
        finally:
            torch.set_default_dtype(previous)
        with torch.no_grad():  # initial weights have structure (zeros); randomise them all
            for p in model.parameters():
                p.add_(0.3 * torch.randn_like(p))
    return model


def clusters(n, seed, n_atoms=(8, 12)):
    """``n`` random H/C/O clusters of 8–11 atoms in a 3.2 Å box, pairs ≥ 0.9 Å apart."""
    rng = np.random.default_rng(seed)
    return [
        random_cluster(
            rng,
            list(rng.choice(ELEMENTS, int(rng.integers(*n_atoms)))),
            box=3.2,
            min_distance=0.9,
        )  # fmt: skip
        for _ in range(n)
    ]


@pytest.fixture(scope="session")
def mace_one_layer():
    return make_mace()


@pytest.fixture(scope="session")
def mace_vector_layer():
    """Two layers, hidden irreps ``4x0e + 4x1o + 4x1e``: layer 1's node features carry
    vectors and pseudo-vectors (a one-layer model's only layer keeps just its scalars)."""
    return make_mace(correlation=3, interactions=2, seed=2, hidden="4x0e+4x1o+4x1e")


@pytest.fixture(scope="session")
def train_structures():
    return clusters(24, 11)


@pytest.fixture(scope="session")
def test_structures():
    return clusters(6, 12)
