"""What the command line refuses, with which message and exit code (issue 21).

Every case runs ``ace_ref.cli.main`` on inputs built here (a fresh clone has everything it
needs) and checks the exit code and the message. The same results, run once per session,
are the table of ``docs/guide/refusals.md``: ``test_refusal_table_is_current`` fails when the
page and the behaviour differ; ``ACE_REF_WRITE_DOCS=1 pytest tests/test_bad_input.py``
rewrites the page from what the cases print.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT
from ase.io import write

from ace_ref import ACEBasis
from ace_ref.cli import main
from ace_ref.models.linear import LinearACEModel
from tests.paths import ROOT

PAGE = ROOT / "docs" / "guide" / "refusals.md"


@dataclass(frozen=True)
class Case:
    """One bad input: the files it needs (``setup(dir)``), the command, and what must come
    back (exit code, and a regular expression the stderr must match)."""

    what: str
    argv: list[str]
    rc: int
    message: str
    setup: Callable[[Path], None] | None = None


def _cu_clusters(d: Path, n: int = 12, key: str = "forces") -> list[Atoms]:
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(n):
        base = np.array([[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0]])
        atoms = Atoms("Cu3", positions=base + rng.normal(size=(3, 3)) * 0.1)
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = None
        atoms.info["energy"] = energy
        atoms.arrays[key] = forces
        frames.append(atoms)
    return frames


def _water(d: Path) -> None:
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(6):
        atoms = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
        atoms.positions += rng.normal(size=(3, 3)) * 0.03
        atoms.info["energy"] = -2070.0 + rng.normal()
        atoms.arrays["forces"] = rng.normal(size=(3, 3))
        frames.append(atoms)
    write(d / "water.xyz", frames, format="extxyz")


def _data(d: Path) -> None:
    write(d / "cu.xyz", _cu_clusters(d), format="extxyz")


def _model(d: Path) -> None:
    _data(d)
    basis = ACEBasis(["Cu"], 2, max_degree=[4, 4], cache_dir=None)
    rng = np.random.default_rng(2)
    LinearACEModel(basis, rng.normal(size=len(basis)) * 0.01, {"Cu": -1.0}).save(d / "m.npz")


def _purified_model(d: Path) -> None:
    basis = ACEBasis(["Cu"], 2, max_degree=[4, 4], cache_dir=None, purify=True)
    rng = np.random.default_rng(2)
    LinearACEModel(basis, rng.normal(size=len(basis)) * 0.01, {"Cu": -1.0}).save(d / "pm.npz")


def _tampered_e0(d: Path) -> None:
    _model(d)
    with np.load(d / "m.npz") as f:
        header, coefficients = json.loads(str(f["header"])), f["coefficients"].copy()
    del header["e0"]["Cu"]
    np.savez(d / "m.npz", header=np.array(json.dumps(header)), coefficients=coefficients)


def _list_header(d: Path) -> None:
    _data(d)
    np.savez(d / "m.npz", header=np.array("[1, 2, 3]"), coefficients=np.zeros(3))


def _text_model(d: Path) -> None:
    _data(d)
    (d / "m.npz").write_text("not a model\n")


def _ref_forces(d: Path) -> None:
    write(d / "ref.xyz", _cu_clusters(d, key="REF_forces"), format="extxyz")


def _far_apart(d: Path) -> None:
    frames = _cu_clusters(d, n=4)
    for k, atoms in enumerate(frames):
        atoms.positions = [[0, 0, 0], [10 + k, 0, 0], [0, 12 + k, 0]]
    write(d / "far.xyz", frames, format="extxyz")


def _zero_weights(d: Path) -> None:
    frames = _cu_clusters(d)
    for atoms in frames:
        atoms.info["config_weight"] = 0.0
    write(d / "zero.xyz", frames, format="extxyz")


def _tiny_cell(d: Path) -> None:
    _model(d)
    write(d / "tiny.xyz", Atoms("Cu", cell=[0.02] * 3, pbc=True), format="extxyz")


def _other_element(d: Path) -> None:
    _model(d)
    write(d / "nh3.xyz", Atoms("NH", positions=[[0, 0, 0], [1.0, 0, 0]]), format="extxyz")


def _config(text: str):
    def setup(d: Path) -> None:
        _data(d)
        (d / "fit.toml").write_text(text)

    return setup


SMALL = ["--order", "2", "--degree", "4", "--quiet"]

CASES = [
    Case(
        "a purified model exported to .yace (no slot for pointwise products)",
        ["export", "pm.npz", "-o", "pm.yace"],
        2, r"the model's basis is purified .* fit without --purify to export", _purified_model,
    ),
    Case(
        "basis far too large (it hung at 9 GB)",
        ["basis", "--elements", "H", "C", "O", "--order", "2", "--max-n", "1000,1000",
         "--max-l", "12,12"],
        2, r"gives 1\.76e\+08 basis functions, more than max_functions=250000",
    ),
    Case(
        "E0 not identifiable: every configuration has one composition",
        ["fit", "water.xyz", *SMALL, "-o", "m.npz"],
        2, r"cannot fit E0 of H, O .* span only 1 composition .* --e0 mean", _water,
    ),
    Case(
        "E0 entry deleted from a model file",
        ["eval", "m.npz", "cu.xyz"],
        2, r"m\.npz: the header \(E0, basis, metadata, uncertainty\) does not match its checksum",
        _tampered_e0,
    ),
    Case(
        "output path inside a file (noticed before the fit)",
        ["fit", "cu.xyz", *SMALL, "-o", "cu.xyz/m.npz"],
        2, r"-o cu\.xyz/m\.npz: cu\.xyz is not a directory", _data,
    ),
    Case(
        "missing test file (noticed before the fit)",
        ["fit", "cu.xyz", *SMALL, "--test", "missing.xyz", "-o", "m.npz"],
        2, r"--test: file missing\.xyz does not exist", _data,
    ),
    Case(
        "config value of the wrong type",
        ["fit", "cu.xyz", *SMALL, "--config", "fit.toml", "-o", "m.npz"],
        2, r"fit\.toml: argument --lam: invalid float value: 'x'", _config('lam = "x"\n'),
    ),
    Case(
        "unknown option in a config file",
        ["fit", "cu.xyz", *SMALL, "--config", "fit.toml", "-o", "m.npz"],
        2, r"fit\.toml: unknown option 'colour'", _config("colour = 3\n"),
    ),
    Case(
        "forces stored under another key (warned, fitted without them)",
        ["fit", "ref.xyz", *SMALL, "-o", "m.npz"],
        0, r"warning: ref\.xyz: 12 of 12 configurations have no forces under the key 'forces' "
        r"but carry 'REF_forces'.*--forces-key REF_forces", _ref_forces,
    ),
    Case(
        "fewer observations than coefficients (warned)",
        ["fit", "ref.xyz", "--order", "2", "--degree", "8", "--quiet", "-o", "m.npz"],
        0, r"warning: 12 weighted observations for \d+ coefficients: the fit is underdetermined",
        _ref_forces,
    ),
    Case(
        "model header is JSON but not an object",
        ["eval", "m.npz", "cu.xyz"],
        2, r"m\.npz: the model header is JSON but not an object \(got list\)", _list_header,
    ),
    Case(
        "a text file given as a model",
        ["eval", "m.npz", "cu.xyz"],
        2, r"m\.npz: not an ace_ref model file \(a model is a \.npz archive", _text_model,
    ),
    Case(
        "no pair of atoms inside the cutoff",
        ["fit", "far.xyz", *SMALL, "--pair-cutoffs", "fixed", "-o", "m.npz"],
        2, r"no training configuration has two atoms within the cutoff", _far_apart,
    ),
    Case(
        "every weight zero",
        ["fit", "zero.xyz", *SMALL, "-o", "m.npz"],
        2, r"nothing to fit: no training row has a positive weight", _zero_weights,
    ),
    Case(
        "smoothness exponent NaN",
        ["fit", "cu.xyz", *SMALL, "--smoothness", "nan", "-o", "m.npz"],
        2, r"--smoothness must be numbers ≥ 0, got \[nan\]", _data,
    ),
    Case(
        "negative smoothness exponent",
        ["fit", "cu.xyz", *SMALL, "--smoothness", "-1", "-o", "m.npz"],
        2, r"--smoothness must be numbers ≥ 0, got \[-1\.0\]", _data,
    ),
    Case(
        "zero prior weight of an order",
        ["fit", "cu.xyz", *SMALL, "--order-weights", "30,0,1", "-o", "m.npz"],
        2, r"--order-weights must be positive numbers, one per correlation order, got 30,0,1",
        _data,
    ),
    Case(
        "per-element degree budget without a value",
        ["fit", "cu.xyz", *SMALL, "--element-degrees", "Cu0.8", "-o", "m.npz"],
        2, r"--element-degrees takes ELEMENT=SCALE pairs such as H=0\.8,C=1\.1, got 'Cu0\.8'",
        _data,
    ),
    Case(
        "per-element degree budget for an element not in the basis",
        ["fit", "cu.xyz", *SMALL, "--element-degrees", "H=0.8", "-o", "m.npz"],
        2, r"element_degree_scale names 'H', not one of the basis elements \['Cu'\]", _data,
    ),
    Case(
        "greedy selection of more functions than the basis has",
        ["fit", "cu.xyz", *SMALL, "--select", "100000", "-o", "m.npz"],
        2, r"select must be a whole number of functions between 1 and \d+ \(the basis has "
        r"\d+\), got 100000", _data,
    ),
    Case(
        "greedy selection that is not a number",
        ["fit", "cu.xyz", *SMALL, "--select", "half", "-o", "m.npz"],
        2, r"--select takes a number of functions, 'auto' or 'none', got 'half'", _data,
    ),
    Case(
        "ranking rows that are not a number",
        ["fit", "cu.xyz", *SMALL, "--select", "5", "--ranking-rows", "some", "-o", "m.npz"],
        2, r"--ranking-rows takes a number of rows, 'auto' or 'all', got 'some'", _data,
    ),
    Case(
        "ranking rows without greedy selection",
        ["fit", "cu.xyz", *SMALL, "--ranking-rows", "50", "-o", "m.npz"],
        2, r"--ranking-rows goes with greedy selection \(--select\)", _data,
    ),
    Case(
        "a dgemm rate for the plan that is not positive",
        ["fit", "cu.xyz", *SMALL, "--flop-rate", "-5", "-o", "m.npz"],
        2, r"--flop-rate must be a positive number of GFLOP/s, got -5\.0", _data,
    ),
    Case(
        "an energy normalisation that does not exist",
        ["fit", "cu.xyz", *SMALL, "--weights", "energy=30,energy_per=cube", "-o", "m.npz"],
        2, r"energy_per='cube': expected one of atom, sqrt_atoms", _data,
    ),
    Case(
        "cutoff below any bond",
        ["fit", "cu.xyz", *SMALL, "--rcut", "1e-9", "-o", "m.npz"],
        2, r"cutoff must be a number ≥ 0\.5 Å, got 1e-09", _data,
    ),
    Case(
        "an element that does not exist",
        ["fit", "cu.xyz", *SMALL, "--elements", "Xx", "-o", "m.npz"],
        2, r"--elements: 'Xx' is not a chemical element", _data,
    ),
    Case(
        "periodic cell far smaller than the cutoff",
        ["eval", "m.npz", "tiny.xyz"],
        2, r"tiny\.xyz, configuration 0: the periodic cell is tiny against the cutoff", _tiny_cell,
    ),
    Case(
        "verify on a structure with an element the model lacks",
        ["verify", "m.npz", "nh3.xyz", "--quiet"],
        2, r"the calculator cannot evaluate structure nh3\.xyz: .*atom 0 is N", _other_element,
    ),
    Case(
        "unknown calculator",
        ["verify", "nosuchthing"],
        2, r"unknown calculator 'nosuchthing'",
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, tuple[int, str, str]]:
    """Every case run once: ``what → (exit code, stderr, stdout)``."""
    results = {}
    for k, case in enumerate(CASES):
        d = tmp_path_factory.mktemp(f"case{k}")
        if case.setup is not None:
            case.setup(d)
        cwd = Path.cwd()
        os.chdir(d)
        try:
            import contextlib
            import io

            err, out = io.StringIO(), io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                rc = main(case.argv)
        finally:
            os.chdir(cwd)
        results[case.what] = (rc, err.getvalue(), out.getvalue())
    return results


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_bad_input_is_refused_with_a_message(case, outcomes):
    rc, err, out = outcomes[case.what]
    assert rc == case.rc, err
    assert re.search(case.message, err, flags=re.S), err
    assert "Traceback" not in err
    if rc == 2:  # refused before any assembly: nothing fitted, nothing written
        assert "fitted" not in out and "model written" not in out


def _table(outcomes) -> str:
    lines = [
        "# What the command line refuses",
        "",
        "<!-- generated by tests/test_bad_input.py (ACE_REF_WRITE_DOCS=1); do not edit -->",
        "",
        "Each row is a test case: the command (run in a folder holding the files it names),",
        "its exit code and the first line it prints to stderr. Exit codes: `0` success (a",
        "warning may precede it), `1` a failed check (`verify`) or a hole (`probe`), `2` bad",
        "input, `3` an internal error (a bug: the traceback is printed, please report it).",
        "Checks that are cheap come first: files, paths and option values are checked before",
        "any data are read or a basis is built.",
        "",
        "| input | command | exit | message |",
        "|---|---|---|---|",
    ]
    for case in CASES:
        rc, err, _ = outcomes[case.what]
        lines_err = [line for line in err.splitlines() if line.strip()]
        first = next((x for x in lines_err if re.search(case.message, x)), lines_err[0])
        first = first.replace("|", "\\|")
        command = " ".join(["ace-ref", *case.argv]).replace("|", "\\|")
        lines.append(f"| {case.what} | `{command}` | {rc} | {first} |")
    return "\n".join(lines) + "\n"


def test_refusal_table_is_current(outcomes):
    table = _table(outcomes)
    if os.environ.get("ACE_REF_WRITE_DOCS") == "1":
        PAGE.write_text(table)
    assert PAGE.exists() and PAGE.read_text() == table, (
        "docs/guide/refusals.md differs from what the cases print: "
        "ACE_REF_WRITE_DOCS=1 pytest tests/test_bad_input.py"
    )


def test_written_files_honour_the_umask(tmp_path):
    # issue 21: model, JSON and cache files were 0600 whatever the umask
    _model(tmp_path)
    old = os.umask(0o022)
    try:
        from ace_ref.models.load import load

        path = load(tmp_path / "m.npz").save(tmp_path / "fresh.npz")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.chmod(path, 0o640)  # re-saving keeps the file's own permissions
        load(path).save(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        os.umask(0o077)
        private = load(path).save(tmp_path / "private.npz")
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_verify_imports_a_factory_from_the_working_directory(tmp_path, monkeypatch, capsys):
    # issue 21: `verify mymod:factory` needed PYTHONPATH
    (tmp_path / "my_calculators.py").write_text(
        "from ase.calculators.emt import EMT\n\ndef emt():\n    return EMT()\n"
    )
    write(tmp_path / "cu.xyz", Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0]]))
    monkeypatch.chdir(tmp_path)
    rc = main(["verify", "my_calculators:emt", "cu.xyz", "--quiet", "--no-smoothness"])
    out = capsys.readouterr()
    assert rc in (0, 1), out.err  # a report was produced (EMT's checks decide 0 or 1)
    assert "rotation" in out.out.lower() or "invariance" in out.out.lower()
    assert "cannot import" not in out.err
