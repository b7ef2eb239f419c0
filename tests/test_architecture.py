"""The package layout is the ACE pipeline: each stage imports only the stages below it.

Read from the source (``ast``), so a lazy import inside a function counts as much as one at
the top of a module. Also: no test-only data ships in the package, every subpackage says in
its docstring which equations live there, and the old public import paths keep working.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import ace_ref

PACKAGE = Path(ace_ref.__file__).parent

STAGES = [
    {"_generated", "_atomic_write", "defaults"},
    {"one_particle"},
    {"coupling"},
    {"kernels"},
    {"basis"},
    {"models"},
    {"fit"},
    {"verify"},
    {"neural"},
    {"cli"},
]
"""Lowest first; a module may import its own stage and the ones before it."""

LEVEL = {name: k for k, names in enumerate(STAGES) for name in names}

TOP_LEVEL_NAMES = {"ACEBasis": "basis", "TwoLayerBasis": "basis", "LinearACEModel": "models",
                   "TwoLayerModel": "models", "ACECalculator": "models", "load": "models",
                   "compute_errors": "fit"}  # fmt: skip


def _imported_stages(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] == "ace_ref"
        ):
            parts = node.module.split(".")
            names = [a.name for a in node.names] if len(parts) == 1 else [parts[1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("ace_ref.")]
        else:
            continue
        for name in names:
            yield node.lineno, TOP_LEVEL_NAMES.get(name, name)


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        stage = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if stage != "__init__":
            yield path, stage


def test_every_module_belongs_to_a_stage():
    unknown = {stage for _, stage in _modules() if stage not in LEVEL}
    assert not unknown, f"modules outside the stage list: {unknown}"


def test_no_stage_imports_a_higher_stage():
    upward = [
        f"{path.relative_to(PACKAGE)}:{line} ({stage}) imports {target}"
        for path, stage in _modules()
        for line, target in _imported_stages(path)
        if LEVEL.get(target, -1) > LEVEL[stage]
    ]
    assert not upward, "\n".join(upward)


def test_the_check_would_catch_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from ace_ref.verify.span import span_inclusion\nimport ace_ref.fit.data\n")
    assert [target for _, target in _imported_stages(bad)] == ["verify", "fit"]
    assert LEVEL["verify"] > LEVEL["coupling"] and LEVEL["fit"] > LEVEL["kernels"]


@pytest.mark.parametrize(
    "package", sorted({s for s in LEVEL if not s.startswith("_")} - {"defaults", "cli"})
)
def test_each_stage_says_which_equations_live_there(package):
    doc = importlib.import_module(f"ace_ref.{package}").__doc__ or ""
    assert doc.startswith("Stage ") and "Paper:" in doc, f"ace_ref.{package} docstring"


def test_no_test_only_data_in_the_package():
    assert not (PACKAGE / "_generated" / "cg_table.py").exists()
    shipped = {p.name for p in (PACKAGE / "_generated").glob("*.py")}
    assert shipped == {"__init__.py", "real_ylm_table.py"}  # the Y_lm kernel reads it


def test_old_public_import_paths_keep_working(tmp_path):
    from ace_ref import ACEBasis, ACECalculator, LinearACEModel, load  # noqa: F401
    from ace_ref.coupling import CouplingCache, cg_tensor, coupled_block, o3_multiplicity  # noqa: F401
    from ace_ref.fit import Weights, assemble, smoothness_prior, solve  # noqa: F401
    from ace_ref.verify import body_order, check_forces, check_invariance, verify_report  # noqa: F401

    assert callable(ace_ref.fit) and ace_ref.fit.fit is ace_ref.fit.pipeline.fit
