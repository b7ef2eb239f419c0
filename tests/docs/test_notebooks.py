"""The teaching notebooks run, and their documentation pages are rendered from the current code.

Every ``notebooks/*.py`` (jupytext percent format) is executed as a script in a subprocess,
in a temporary working directory, with ``MPLBACKEND=Agg``, one BLAS thread, and its figures
sent to a temporary ``ACE_REF_DOCS_IMG``. The notebooks assert on what they compute
(invariance to round-off, counts equal to the character formula, energy conservation, body
order), so a failing assertion fails the test. Each page ``docs/notebooks/<name>.md`` must
have been rendered from the notebook as it is now (``python docs/render_notebooks.py``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ace_ref
from tests.paths import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
TIMEOUT = 240  # seconds per notebook; each takes well under a minute on one core


def _page(path: Path) -> Path:
    return ROOT / "docs" / "notebooks" / f"{path.stem}.md"


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, coupling_cache):
    if "from mace" in path.read_text() and importlib.util.find_spec("mace") is None:
        pytest.skip(
            f"{path.name} needs the [neural] extra (torch, mace-torch): pip install '.[neural]'"
        )
    img = tmp_path / "img"
    env = dict(os.environ)
    env.update(
        MPLBACKEND="Agg",
        # one BLAS/OpenMP thread: on a loaded machine OpenBLAS's threads spin-wait for each
        # other (nequip_as_sparse_ace: 103 s wall and 103 s CPU with the default threads,
        # 39 s wall and 26 s CPU with one, at the same load of about 4 on 2 cores)
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        ACE_REF_DOCS_IMG=str(img),
        ACE_REF_CACHE=str(coupling_cache),
        # the notebooks import the same ace_ref as this test process
        PYTHONPATH=os.pathsep.join(
            [str(Path(ace_ref.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
        ),
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, (
        f"{path.name} failed after {seconds:.0f} s\n--- stdout (end)\n{proc.stdout[-4000:]}"
        f"\n--- stderr (end)\n{proc.stderr[-4000:]}"
    )
    # every figure shown on the notebook's page is produced by the notebook
    page = _page(path)
    if page.exists():
        shown = re.findall(r"!\[[^\]]*\]\(\.\./img/([^)]+\.png)\)", page.read_text())
        missing = [name for name in shown if not (img / name).exists()]
        assert not missing, f"{path.name} no longer writes {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_page_is_current(path):
    """The page was rendered from this exact source, and the figures it shows are committed."""
    page = _page(path)
    assert page.exists(), f"{page} missing: run python docs/render_notebooks.py {path}"
    first = page.read_text().splitlines()[0]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest in first, (
        f"{page.name} was rendered from another version of {path.name}: "
        f"run python docs/render_notebooks.py {path.relative_to(ROOT)}"
    )
    for name in re.findall(r"!\[[^\]]*\]\(\.\./img/([^)]+\.png)\)", page.read_text()):
        assert (ROOT / "docs" / "img" / name).exists(), f"docs/img/{name} missing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_a_jupytext_notebook(path):
    """Opens as a notebook: a title cell, then markdown and code cells."""
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(path, fmt="py:percent")
    kinds = [c.cell_type for c in nb.cells]
    assert kinds[0] == "markdown" and nb.cells[0].source.startswith("# "), path.name
    assert "code" in kinds and kinds.count("markdown") >= 3, path.name
    assert nb.metadata.get("jupytext", {}).get("formats") == "py:percent", path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_states_objectives_and_exercises(path):
    """Learning objectives at the top; two or three "predict, then run" exercises at the end,
    each followed by its answer in a folded block (pymdownx.details: ``??? note "Answer"``)."""
    text = path.read_text()
    head, _, exercises = text.partition("# ## Exercises: predict, then run\n")
    assert exercises, f"{path.name}: no exercise section"
    assert "**Learning objectives.**" in head, f"{path.name}: no learning objectives"
    questions = re.findall(r"^# \*\*(\d)\.\*\* ", exercises, flags=re.M)
    assert questions in (["1", "2"], ["1", "2", "3"]), (path.name, questions)
    answers = re.findall(r'^# \?\?\? note "Answer"\n((?:#     .*\n)+)', exercises, flags=re.M)
    assert len(answers) == len(questions), f"{path.name}: every exercise needs a folded answer"
