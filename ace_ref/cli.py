"""The ``ace-ref`` command: ``fit``, ``eval``, ``export``, ``basis``, ``verify``, ``probe``.

Argument parsing around library calls and nothing more: ``fit`` wraps :func:`ace_ref.fit.fit`,
``eval`` :func:`ace_ref.fit.compute_errors`, ``export`` :func:`ace_ref.models.yace.export_yace`,
``verify`` :func:`ace_ref.verify.verify_report`, ``probe`` :func:`ace_ref.verify.probe.probe`.
Every option's default comes from :mod:`ace_ref.defaults`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tomllib
from fractions import Fraction
from importlib import resources
from pathlib import Path

from ace_ref import defaults
from ace_ref._atomic_write import atomic_path
from ace_ref.one_particle.radial import RADIAL_KINDS


def _example_paths(name: str) -> dict[str, Path]:
    if name != "acac":
        raise ValueError(f"unknown example {name!r} (available: acac)")
    root = resources.files("ace_ref") / "example_data" / "acac"
    return {
        "train": Path(str(root / "train_300K.xyz")),
        "test": Path(str(root / "test_MD_300K.xyz")),
        "e0": Path(str(root / "isolated_atoms.xyz")),
    }


def _floats(text: str) -> list[float]:
    """``"1,2.5 3"`` → ``[1.0, 2.5, 3.0]``; anything else is a ``ValueError`` naming it."""
    try:
        values = [float(x) for x in str(text).replace(",", " ").split()]
    except ValueError as exc:
        raise ValueError(f"expected numbers, got {text!r}") from exc
    if not values:
        raise ValueError("expected at least one number")
    return values


def _order_weights_option(text: str) -> list[tuple[float, ...]]:
    """``--order-weights``: ``"30,3,1"`` (one setting), ``"30,3,1;1"`` (a grid scored on
    held-out configurations) or ``"1"`` (every order alike); each a positive number per order."""
    return [tuple(_floats(part)) for part in str(text).split(";")]


def _e0_option(text: str | None):
    """``--e0``: ``None`` (least squares), ``"mean"``, ``"H=-13.6,C=-1029.8"`` (a dict) or a
    file of isolated atoms (checked to exist now, not after the fit)."""
    if text is None or text == "mean":
        return text
    if "=" in text:
        values = {}
        for item in filter(None, (t.strip() for t in text.split(","))):
            element, _, value = item.partition("=")
            try:
                values[element.strip()] = float(value)
            except ValueError:
                raise ValueError(f"--e0 {item!r}: {value!r} is not a number") from None
        return values
    _check_readable([text], "--e0")
    return text


def _check_elements(elements: list[str] | None) -> None:
    from ase.data import atomic_numbers

    for el in elements or []:
        if el not in atomic_numbers or el == "X":
            raise ValueError(f"--elements: {el!r} is not a chemical element")


def _check_readable(paths, what: str) -> None:
    """Every path exists, is a file and can be opened (before any work)."""
    for name in paths:
        path = Path(name)
        if not path.exists():
            raise FileNotFoundError(f"{what}: file {path} does not exist")
        if path.is_dir():
            raise ValueError(f"{what}: {path} is a directory, not a file")
        with open(path, "rb"):
            pass  # PermissionError (an OSError) → exit 2 with its message


def _check_writable(name: str, what: str) -> None:
    """``name`` can be written: not a directory, and its nearest existing ancestor is a
    writable directory (checked before any work, not after a long fit)."""
    import os

    path = Path(name)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a directory")
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{what} {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path}: no permission to write in {ancestor}")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{what} {path}: the file exists and is not writable")


def _keys(args) -> dict[str, str]:
    """The label keys given on the command line (``--energy-key`` …)."""
    return {
        name: getattr(args, f"{name}_key")
        for name in ("energy", "forces", "stress", "virial")
        if getattr(args, f"{name}_key", None) is not None
    }


def _add_key_options(p) -> None:
    g = p.add_argument_group("where the labels are in the extxyz files")
    g.add_argument("--energy-key", help=f"info key of the energy (default {defaults.ENERGY_KEY})")
    g.add_argument("--forces-key", help=f"per-atom forces (default {defaults.FORCES_KEY})")
    g.add_argument("--stress-key", help=f"info key of the stress (default {defaults.STRESS_KEY})")
    g.add_argument(
        "--virial-key",
        help=f"info key of the virial W = −Vσ, read where there is no stress "
        f"(default {defaults.VIRIAL_KEY})",
    )


def _ints(text: str | None):
    if text is None:
        return None
    return [int(x) for x in str(text).replace(",", " ").split()]


def _build_basis(args, elements, r_cut=None):
    """Basis from the options: ``--degree`` and/or ``--max-n``/``--max-l``; neither given
    means the default total degree ``defaults.MAX_DEGREE`` (for ``--order 3``)."""
    from ace_ref import ACEBasis
    from ace_ref.fit.presets import parse_element_scales

    r_cut = args.rcut if r_cut is None else r_cut
    kwargs = dict(order=args.order, r_cut=r_cut, radial=args.radial, w_L=Fraction(args.wl))
    kwargs.update(_sparsification_kwargs(args))
    if getattr(args, "purify", False):
        kwargs["purify"] = True
    scales = parse_element_scales(getattr(args, "element_degrees", None))
    if scales is not None:
        kwargs["element_degree_scale"] = scales
    if args.degree is not None:
        values = [Fraction(x) for x in str(args.degree).replace(",", " ").split()]
        kwargs["max_degree"] = values[0] if len(values) == 1 else values
    if args.max_n is not None or args.max_l is not None:
        if args.max_n is None or args.max_l is None:
            raise ValueError("--max-n and --max-l go together")
        kwargs["max_n"] = _ints(args.max_n)
        kwargs["max_l"] = _ints(args.max_l)
    if "max_degree" not in kwargs and "max_n" not in kwargs:
        if args.order != len(defaults.MAX_DEGREE):
            raise ValueError(
                f"--order {args.order} needs --degree or --max-n/--max-l "
                "(the default degree is for order 3)"
            )
        kwargs["max_degree"] = list(defaults.MAX_DEGREE)
    basis = ACEBasis(elements, **kwargs)
    if getattr(args, "layers", 1) == 2:
        from ace_ref.basis.two_layer import TwoLayerBasis

        degree = None
        if args.l2_degree is not None:
            degree = [Fraction(x) for x in str(args.l2_degree).replace(",", " ").split()]
        return TwoLayerBasis(
            basis,
            lmax_hidden=args.l2_lmax,
            max_n=args.l2_max_n,
            order=args.l2_order,
            max_degree=degree,
            constant_channel=not args.l2_no_constant,
        )
    if getattr(args, "layers", 1) != 1:
        raise ValueError(f"--layers must be 1 or 2, got {args.layers}")
    return basis


def _sparsification_kwargs(args) -> dict:
    """``ACEBasis`` keywords of the NequIP-style sparsification options (docs/sparsify.md)."""
    coupling = getattr(args, "coupling", "symmetric")
    lmax_hidden = getattr(args, "lmax_hidden", None)
    if lmax_hidden is not None and coupling == "symmetric":
        coupling = "chain"  # a hidden-L cap only exists in the chain tree
    return {
        "coupling": coupling,
        "lmax_hidden": lmax_hidden,
        "channels": getattr(args, "channels", "full"),
        "independent": not getattr(args, "all_paths", False),
    }


def _add_basis_options(p):
    p.add_argument("--elements", nargs="+", help="elements (default: those in the data)")
    p.add_argument(
        "--order",
        type=int,
        default=defaults.ORDER,
        help="correlation order ν (body order ν+1)",
    )
    p.add_argument("--degree", help="total degree bound, one value or one per order")
    p.add_argument(
        "--element-degrees",
        metavar="EL=SCALE,...",
        help="per-element degree budgets: central element EL keeps the functions of degree "
        "≤ SCALE × the total degree, e.g. H=0.8,C=1.1 (elements not named: 1); 'none': the "
        "same functions for every element. ace-ref fit without --degree/--max-n: default "
        + ",".join(f"{el}={v}" for el, v in defaults.ELEMENT_DEGREE_SCALE.items())
        + " (defaults.ELEMENT_DEGREE_SCALE); with --degree: none",
    )
    p.add_argument("--max-n", help="per-order cap on n, e.g. '10,8,4'")
    p.add_argument("--max-l", help="per-order cap on l, e.g. '0,4,3'")
    p.add_argument("--rcut", type=float, default=defaults.R_CUT, help="cutoff (Å)")
    p.add_argument(
        "--wl",
        default=str(defaults.W_L),
        help="weight w_L of l in the total degree Σ(n + w_L l), e.g. 1 or 3/2",
    )
    p.add_argument(
        "--radial",
        default=defaults.RADIAL,
        choices=list(RADIAL_KINDS),
        help="radial basis (every one exports to LAMMPS: ace-ref export)",
    )
    p.add_argument(
        "--purify",
        action="store_true",
        help="self-interaction-free functions: every product sums over distinct neighbours, "
        "so an order-ν function is exactly (ν+1)-body (docs/theory/purification.md); "
        "invariant features only, no .yace export, prediction about 9x slower",
    )
    g = p.add_argument_group("NequIP-style sparsifications (docs/theory/sparsification.md)")
    g.add_argument(
        "--coupling",
        default="symmetric",
        choices=["symmetric", "chain"],
        help="symmetric: full ACE coupling (default); chain: iterated tensor products "
        "h^(ν) = [φ ⊗ h^(ν-1)]_L, every order of the factors",
    )
    g.add_argument(
        "--lmax-hidden",
        type=int,
        help="cap L ≤ this on every hidden feature of the chain (NequIP's l_max); "
        "implies --coupling chain",
    )
    g.add_argument(
        "--channels",
        default="full",
        choices=["full", "uvw", "uvu"],
        help="full/uvw: all radial channels couple; uvu: all factors share one radial index n",
    )
    g.add_argument(
        "--all-paths",
        action="store_true",
        help="keep every NequIP path as a column (linearly dependent) instead of an "
        "independent subset of each block",
    )
    g = p.add_argument_group(
        "two-layer linear message passing (multi-ACE; the options above define layer 1)"
    )
    g.add_argument("--layers", type=int, default=1, choices=[1, 2], help="1: ACE; 2: multi-ACE")
    g.add_argument(
        "--l2-lmax",
        type=int,
        default=defaults.L2_LMAX,
        help="largest L of the layer-1 channels and of A²",
    )
    g.add_argument(
        "--l2-max-n", type=int, default=defaults.L2_MAX_N, help="layer-2 radial functions"
    )
    g.add_argument(
        "--l2-order", type=int, default=defaults.L2_ORDER, help="correlation order ν2 of layer 2"
    )
    g.add_argument("--l2-degree", help="total degree of the layer-2 products (one per order)")
    g.add_argument("--l2-no-constant", action="store_true", help="no constant channel in layer 2")


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommand parsers of ``parser`` by name."""
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _config_argv(command: argparse.ArgumentParser, path: Path) -> list[str]:
    """The options of a TOML config file as command-line words, so that argparse checks
    their types and choices exactly as it checks the command line's."""
    try:
        cfg = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read config {path}: {exc}") from exc
    by_dest = {a.dest: a for a in command._actions if a.dest not in ("help", "config")}
    words: list[str] = []
    positional: list[str] = []
    for key, value in cfg.items():
        action = by_dest.get(key.replace("-", "_"))
        if action is None:
            raise ValueError(f"{path}: unknown option {key!r}")
        values = value if isinstance(value, list) else [value]
        if not action.option_strings:  # the training files
            positional += [str(v) for v in values]
            continue
        flag = max(action.option_strings, key=len)
        if isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise ValueError(f"{path}: {key} must be true or false, got {value!r}")
            words += [flag] if value else []
        elif action.nargs in ("+", "*"):
            words += [flag, *map(str, values)]
        else:
            words += [flag, ",".join(map(str, values))]
    return words + positional


class _ConfigValueError(ValueError):
    pass


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; a ``--config`` file supplies options the command line does
    not give (the command line wins), checked by the same argparse types and choices."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "config", None):
        return args
    path = Path(args.config)
    command = _commands(parser)[args.command]
    words = _config_argv(command, path)

    def refuse(message: str):
        raise _ConfigValueError(f"{path}: {message}")

    command.error = refuse  # a parser of our own, built above for this call
    from_config = parser.parse_args([args.command, *words])
    quiet = build_parser()  # the same options without defaults: only what was typed
    for sub in _commands(quiet).values():
        for action in sub._actions:
            action.default = argparse.SUPPRESS
    typed = quiet.parse_args(argv)
    for key, value in vars(typed).items():
        if key == "train" and not value:
            continue
        setattr(from_config, key, value)
    return from_config


def cmd_fit(args) -> int:
    """``ace-ref fit``: read options, build the basis, call :func:`ace_ref.fit.fit`, print.

    On a first run a background process compiles the kernels the fit needs later
    (:mod:`ace_ref.fit.warmup`); it is stopped however the fit ends."""
    from ace_ref.fit.warmup import Background

    background = Background()
    try:
        return _fit_command(args, background)
    finally:
        background.stop()


def _fit_command(args, background) -> int:
    """The work of :func:`cmd_fit`, with its :class:`~ace_ref.fit.warmup.Background`."""
    from ace_ref.fit import fit
    from ace_ref.fit.assembly import Weights
    from ace_ref.fit.data import elements_of, pair_cutoffs_from_data, read_configs
    from ace_ref.fit.distributed import (
        ClusterError,
        MissingDependency,
        check_cluster_options,
        cluster_client,
        require_distributed,
    )
    from ace_ref.fit.presets import (
        parse_ranking_rows,
        parse_select,
        resolve_ranking_rows,
        resolve_select,
        selects,
    )
    from ace_ref.fit.solvers import check_order_weights

    if args.example:
        paths = _example_paths(args.example)
        args.train = [paths["train"]]
        args.test = args.test or [paths["test"]]
        args.e0 = args.e0 or paths["e0"]
        args.output = args.output or f"{args.example}_model.npz"
    if not args.train:
        raise ValueError("give training files or --example acac")
    if not args.output and not args.plan_only:
        raise ValueError("give -o MODEL")
    # cheap checks first: nothing is read or built before the inputs and output are sound
    _check_elements(args.elements)
    _check_readable(args.train, "training data")
    _check_readable(args.test or [], "--test")
    if args.output:
        _check_writable(args.output, "-o")
    e0 = _e0_option(None if args.e0 is None else str(args.e0))
    weights = Weights.parse(args.weights)  # refuse malformed weights before any work
    parse_select(args.select)  # refuse a malformed --select before any work
    parse_ranking_rows(args.ranking_rows)
    if args.flop_rate is not None and not (0 < args.flop_rate < float("inf")):
        raise ValueError(f"--flop-rate must be a positive number of GFLOP/s, got {args.flop_rate}")
    if args.threads is not None:
        import numba

        if args.threads < 1 or args.threads > numba.config.NUMBA_NUM_THREADS:
            raise ValueError(
                f"--threads must lie in 1 … {numba.config.NUMBA_NUM_THREADS} "
                f"(NUMBA_NUM_THREADS), got {args.threads}"
            )
        numba.set_num_threads(args.threads)
    if args.workers is not None or args.scheduler is not None:
        check_cluster_options(args.workers, args.scheduler)  # before any work
        try:
            require_distributed()
        except MissingDependency as exc:
            raise ValueError(str(exc)) from exc
    smoothness = args.smoothness
    if any(not (p >= 0 and p < float("inf")) for p in smoothness):
        raise ValueError(f"--smoothness must be numbers ≥ 0, got {smoothness}")
    for setting in args.order_weights:
        try:
            check_order_weights(setting)
        except ValueError:
            raise ValueError(
                "--order-weights must be positive numbers, one per correlation order, got "
                + ",".join(f"{w:g}" for w in setting)
            ) from None
    measured_rate = None  # measured before the warm-up starts: it would share the cores
    if args.flop_rate is None and not args.plan_only:
        from ace_ref.fit.cost import measure_flop_rate

        measured_rate = measure_flop_rate()
    if not args.plan_only:
        background.start()  # a first run: it imports while the data are read
    read_options = {"stress_unit": args.stress_unit, "stress_convention": args.stress_convention}
    keys = _keys(args)
    train = read_configs(
        args.train,
        elements=args.elements,
        **read_options,
        **{f"{name}_key": key for name, key in keys.items()},
    )
    elements = args.elements or elements_of(train)
    r_cut = None
    if args.pair_cutoffs == "data":
        r_cut = pair_cutoffs_from_data(
            train, elements, args.rcut, max_gap=defaults.DATA_CUTOFF_MAX_GAP
        )
    degrees_from_data = False
    if args.degree is None and args.max_n is None and args.order == defaults.ORDER:
        from ace_ref.fit.presets import choose_degree_for_data, parse_element_scales

        choice = choose_degree_for_data(
            train,
            elements,
            weights,
            preset=args.preset,
            w_L=Fraction(args.wl),
            element_degree_scale=(
                "default"
                if args.element_degrees is None
                else parse_element_scales(args.element_degrees)
            ),
            for_selection=selects(args.select),
        )
        degrees_from_data = True
        args.degree = ",".join(str(d) for d in choice.max_degree)
        scales = choice.element_degree_scale or {}
        args.element_degrees = ",".join(f"{el}={v}" for el, v in scales.items()) or "none"
        print(f"degree {args.degree}: {choice.reason} ({choice.n_coefficients} coefficients)")
    elif args.preset != "default":
        raise ValueError("--preset chooses the degrees: give it without --degree/--max-n")
    basis = _build_basis(args, elements, r_cut)
    if args.pair_rcut is not None:
        from ace_ref.basis import pair_and_many_body

        if args.layers != 1:
            raise ValueError("--pair-rcut goes with a one-layer basis (--layers 1)")
        pair_cut = args.pair_rcut
        if args.pair_cutoffs == "data":
            pair_cut = pair_cutoffs_from_data(train, elements, args.pair_rcut)
        basis = pair_and_many_body(
            elements, pair_r_cut=pair_cut, pair_max_n=args.pair_max_n, many_body=basis
        )
    print(basis.describe())
    background.send(basis)  # the warm-up compiles for a basis of this kind
    select, line = resolve_select(args.select, train, weights, basis, degrees_from_data)
    if line:
        print(line)
    ranking_rows, line = resolve_ranking_rows(
        args.ranking_rows, select, train, weights, basis, args.preset
    )
    if line:
        print(line)
    options = dict(
        e0=e0,
        test={Path(p).name: [p] for p in args.test or []},
        keys=keys,
        solver=args.solver,
        weights=weights,
        smoothness=smoothness if len(smoothness) > 1 else smoothness[0],
        order_weights=args.order_weights if len(args.order_weights) > 1 else args.order_weights[0],
        lam=args.lam,
        assembly=args.assembly,
        progress=not args.quiet,
        metadata={"train_files": [str(p) for p in args.train], "weights": args.weights},
        committee_size=args.committee,
        core=None if args.core == "none" else args.core,
        active_set_size=args.active_set,
        memory_limit=None if args.no_memory_check else "available",
        select=select,
        ranking_rows=ranking_rows,
        flop_rate=measured_rate if args.flop_rate is None else args.flop_rate * 1e9,
        **read_options,
    )
    if args.plan_only:
        from ace_ref.fit.pipeline import plan

        cost = plan(train, basis, **options)
        print(cost.format())
        if not cost.fits_in_memory:
            print("a fit would be refused: the estimated peak exceeds the memory available")
        print("--plan-only: nothing assembled, no model written")
        return 0
    try:
        with cluster_client(args.workers, args.scheduler) as client:
            result = fit(
                train,
                basis,
                client=client,
                on_plan=lambda cost: print(_as_measured(cost, measured_rate).format(), flush=True),
                **options,
            )
    except (MissingDependency, ClusterError) as exc:
        raise ValueError(str(exc)) from exc
    result.cost = _as_measured(result.cost, measured_rate)
    path = result.model.save(args.output)
    print(result.summary())
    print(result.achieved())
    print(f"model written to {path}")
    print(result.errors.format())
    if result.model.uncertainty is not None and result.model.uncertainty.coverage is not None:
        print("coverage of the training data (eval and the calculator flag what lies outside):")
        print(result.model.uncertainty.coverage.summary())
    return 0


def _as_measured(cost, measured_rate):
    """The plan, saying that its dgemm rate was measured here when the CLI measured it."""
    if measured_rate is None:
        return cost
    return dataclasses.replace(cost, flop_rate_given=False)


def cmd_eval(args) -> int:
    """``ace-ref eval``: error tables (and optionally JSON and parity plots) of a model."""
    from ace_ref.fit.data import read_configs
    from ace_ref.fit.errors import (
        ErrorReport,
        assess_configs,
        compute_errors,
        predict_all,
        rank_signals,
    )
    from ace_ref.models import load

    _check_readable(args.data, "data")
    if args.json:
        _check_writable(args.json, "--json")
    if args.plot:
        _check_writable(args.plot, "--plot")
    model = load(args.model)
    if args.uncertainty and getattr(model, "uncertainty", None) is None:
        raise ValueError(f"{args.model} carries no uncertainty data (refit it with this version)")
    report = ErrorReport()
    datasets = []
    per_file: dict = {}
    for p in args.data:
        configs = read_configs(
            [p],
            stress_unit=args.stress_unit,
            stress_convention=args.stress_convention,
            require=(),
            elements=model.basis.elements,
            **{f"{name}_key": key for name, key in _keys(args).items()},
        )
        predictions = predict_all(model, configs)
        datasets.append((Path(p).name, configs, predictions))
        report = report | compute_errors(model, configs, Path(p).name, predictions)
        rows = assess_configs(model, configs, predictions, full=args.uncertainty)
        per_file[Path(p).name] = {"configurations": rows, "ranking": rank_signals(rows)}
    print(report.format())
    for name, part in per_file.items():
        print(_reliability_text(name, part))
    if args.json:
        result = report.to_dict()
        result["reliability"] = per_file
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(result, indent=2))
    if args.plot:
        _parity_plot(datasets, Path(args.plot))
    return 0


def _reliability_text(name: str, part: dict) -> str:
    """Configurations outside the trained distance ranges and, with --uncertainty, how well
    each uncertainty signal ranks the true errors."""
    rows = part["configurations"]
    lines = [f"{name}: reliability"]
    if any("n_pairs_outside" in r for r in rows):
        out = [r for r in rows if r.get("n_pairs_outside")]
        lines.append(
            f"  {len(out)} of {len(rows)} configurations have pair distances the training data "
            "never showed (outside the range or in a gap)"
            + (f", e.g. {', '.join(r['source'] for r in out[:3])}" if out else "")
        )
    grades = [r["max_extrapolation_grade"] for r in rows if "max_extrapolation_grade" in r]
    if grades:
        warn = defaults.EXTRAPOLATION_GRADE_WARN
        n_hi = sum(g > warn for g in grades)
        lines.append(
            f"  extrapolation grade γ: median {statistics.median(grades):.2f}, "
            f"max {max(grades):.2f}; {n_hi} configurations with γ > {warn:g}"
        )
    for key, r in part["ranking"].items():
        lines.append(
            f"  {key}: Spearman {r['spearman']:.2f}; the {r['n_top']} most uncertain hold "
            f"{100 * r['caught']:.0f} % of the {r['n_top']} worst"
        )
    return "\n".join(lines)


def _parity_plot(datasets, out: Path) -> None:
    """Energy and force parity plots of ``(name, configs, predictions)`` triples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for name, configs, predictions in datasets:
        e_ref, e_pred, f_ref, f_pred = [], [], [], []
        for c, out_ in zip(configs, predictions, strict=True):
            if c.energy is not None:
                e_ref.append(c.energy / len(c.atoms))
                e_pred.append(out_["energy"] / len(c.atoms))
            if c.forces is not None:
                f_ref.extend(c.forces.ravel())
                f_pred.extend(out_["forces"].ravel())
        axes[0].plot(e_ref, e_pred, ".", ms=3, label=name)
        axes[1].plot(f_ref, f_pred, ".", ms=1, label=name)
    for ax, name in zip(axes, ["energy (eV/atom)", "forces (eV/Å)"], strict=True):
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.5)
        ax.set_xlabel(f"reference {name}")
        ax.set_ylabel(f"predicted {name}")
        ax.legend()
    fig.tight_layout()
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    finally:
        plt.close(fig)


def cmd_basis(args) -> int:
    from ace_ref import ACEBasis

    elements = args.elements or ["Si"]
    basis = _build_basis(args, elements)
    print(basis.describe())
    if isinstance(basis, ACEBasis) and basis.is_sparsified:
        print()
        print(size_comparison(basis))
    return 0


def size_comparison(basis) -> str:
    """Per-order sizes of a sparsified basis next to the full ACE basis of the same
    truncation (functions per species; NequIP paths before the independence reduction)."""
    from ace_ref import ACEBasis

    spec = basis.to_dict()
    for key in ("coupling", "lmax_hidden", "channels", "independent"):
        spec.pop(key, None)
    full = ACEBasis.from_dict(spec)
    name = (
        f"{basis.coupling}"
        + ("" if basis.lmax_hidden is None else f" L≤{basis.lmax_hidden}")
        + f" {basis.channels}"
    )
    fc, sc = full.counts_by_order(), basis.counts_by_order()
    lines = [
        "sizes per species, same truncation:",
        f"{'order':>6} {'full ACE':>10} {name:>20}",
    ]
    for nu in fc:
        lines.append(f"{nu:>6} {fc[nu]:>10} {sc[nu]:>20}")
    lines.append(
        f"{'total':>6} {full.n_functions_per_species:>10} {basis.n_functions_per_species:>20}"
    )
    lines.append(f"{'paths':>6} {full.n_paths(0):>10} {basis.n_paths(0):>20}")
    lines.append(
        f"all species: full {len(full)}, sparsified {len(basis)} linear coefficients "
        f"({100 * len(basis) / len(full):.1f} %)"
    )
    return "\n".join(lines)


def cmd_verify(args) -> int:
    """Verification report of any calculator (see :mod:`ace_ref.verify`); exit 0 if every
    check passes, 1 if some fail (bad input: 2, through :func:`main`)."""
    from ace_ref import verify

    for flag, value in (
        ("--max-M", args.max_M),
        ("--sample", args.sample),
        ("--expect-body-order", args.expect_body_order),
    ):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be a positive integer, got {value}")
    calc = verify.calculator_from_spec(args.calculator)
    if args.structure:
        atoms = _read_structure(args.structure)
        _check_evaluable(calc, atoms, f"structure {args.structure}")
    else:
        atoms = verify.default_structure(calc, seed=args.seed)
        print(f"no structure given: using {atoms.get_chemical_formula()} (built-in default)")
    rows = verify.verify_report(
        calc,
        atoms,
        max_M=args.max_M,
        sample=args.sample,
        seed=args.seed,
        expected_body_order=args.expect_body_order,
        smoothness=not args.no_smoothness,
        progress=not args.quiet,
    )
    print(verify.format_report(rows))
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps([r.to_dict() for r in rows], indent=2))
    if args.plot:
        spectrum = next((r.details for r in rows if r.check == "body order"), None)
        if spectrum and spectrum.get("M"):
            print(f"body-order spectrum written to {verify.plot_body_order(spectrum, args.plot)}")
        else:
            print("ace-ref verify: no body-order spectrum to plot", file=sys.stderr)
    return 0 if all(r.passed for r in rows) else 1


def cmd_export(args) -> int:
    """Write a fitted model as an ML-PACE ``.yace`` file and print the LAMMPS lines for it."""
    from ace_ref.models.load import load
    from ace_ref.models.yace import export_yace

    model = load(args.model)
    out = export_yace(
        model, args.output, report=print, type_elements=args.types, evaluator=args.evaluator
    )
    print(f"model written to {out.path}")
    print("LAMMPS (units metal, newton on):")
    print(out.pair_style)
    print(out.pair_coeff)
    return 0


def _check_evaluable(calc, atoms, name: str) -> None:
    """The calculator evaluates ``atoms`` at all (e.g. knows its elements); otherwise the
    structure is bad input (exit 2), not a failed check."""
    trial = atoms.copy()
    trial.calc = calc
    try:
        trial.get_potential_energy()
    except Exception as exc:  # noqa: BLE001 - any failure here means the input does not fit
        raise ValueError(f"the calculator cannot evaluate {name}: {exc}") from exc


def _read_structure(name: str):
    """One structure from a file ASE can read; a missing or unreadable file is bad input."""
    import ase.io

    path = Path(name)
    if not path.exists():
        raise FileNotFoundError(f"structure file {path} does not exist")
    try:
        return ase.io.read(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure is bad input
        raise ValueError(f"cannot read structure {path}: {exc}") from exc


def cmd_probe(args) -> int:
    """``ace-ref probe``: torsion, stretch and displacement scans of a structure (hole search);
    exit 0 if no hole is found, 1 if some scan has one."""
    from ace_ref import verify
    from ace_ref.models.calculator import ACECalculator
    from ace_ref.verify.probe import probe

    calc = verify.calculator_from_spec(args.calculator)
    if args.spread:
        if not isinstance(calc, ACECalculator):
            raise ValueError("--spread needs an ace_ref model file (its committee)")
        calc = calc.model.calculator(uncertainty=True)
    atoms = _read_structure(args.structure)
    _check_evaluable(calc, atoms, f"structure {args.structure}")
    report = probe(calc, atoms, margin=args.margin, seed=args.seed)
    print(report.format())
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(report.to_dict(), indent=2))
    return 1 if report.holes else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ace-ref", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fit", help="fit a linear ACE potential")
    p.add_argument("train", nargs="*", help="training extxyz files")
    p.add_argument("--example", help="run on packaged example data ('acac')")
    p.add_argument("--test", nargs="+", help="test extxyz files")
    p.add_argument(
        "--e0",
        help="isolated-atom energies: an extxyz file of single atoms, H=-13.6,C=-1029.8, or "
        "'mean' (the mean energy per atom for every element); default: least squares on the "
        "training energies (refused where the compositions cannot determine it)",
    )
    _add_basis_options(p)
    p.add_argument("--solver", default=defaults.SOLVER, choices=["ridge", "blr", "tsvd", "lsqr"])
    p.add_argument("--lam", type=float, default=defaults.LAMBDA, help="λ for ridge/lsqr")
    p.add_argument(
        "--select",
        metavar="K|auto|none",
        help="keep only K of the basis functions, chosen one by one by greedy selection on "
        "the Gram summary of the whole basis (the pool), then fit those exactly "
        "(docs/guide/fitting.md, 'Greedy function selection'); auto: one per "
        f"{defaults.ROWS_PER_SELECTED_FUNCTION} training rows. Default: auto where the degrees "
        "are chosen from the data (no --degree/--max-n), otherwise none",
    )
    p.add_argument(
        "--ranking-rows",
        metavar="N|auto|all",
        help="with --select: rank the pool on the Gram summary of at most N training rows "
        "(configurations drawn at random; the fit proper uses every row). auto (default): "
        "all rows while the pool's Gram costs at most defaults.RANKING_GRAM_FLOPS "
        f"({defaults.RANKING_GRAM_FLOPS:.1e} flops), otherwise as many as that allows",
    )
    p.add_argument(
        "--plan-only",
        action="store_true",
        help="print the fit plan (coefficients, rows, peak memory, time per stage) and stop: "
        "nothing is assembled and no model is written",
    )
    p.add_argument(
        "--flop-rate",
        type=float,
        metavar="GFLOPS",
        help="plan with this dgemm rate (GFLOP/s on all threads) instead of the one measured "
        "now, e.g. 38 for a 2-core machine whose single-core dgemm runs at 19",
    )
    p.add_argument(
        "--assembly",
        default=defaults.ASSEMBLY,
        choices=["qr", "normal"],
        help="streamed QR (accurate, default) or normal equations (faster)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="threads for assembly and prediction (default: all cores, or NUMBA_NUM_THREADS); "
        "the fitted coefficients do not depend on it",
    )
    p.add_argument(
        "--workers",
        type=int,
        help="assemble on a local Dask cluster of this many worker processes "
        "(needs the [distributed] extra; default: serial, no Dask)",
    )
    p.add_argument(
        "--scheduler",
        help="assemble on the running Dask cluster at tcp://HOST:PORT "
        "(workers need the same ace_ref installed)",
    )
    p.add_argument(
        "--smoothness",
        type=_floats,
        default=[defaults.SMOOTHNESS],
        help="exponent p of the smoothness prior (0: off); a list such as 1,2,3 is a grid "
        "scored on held-out configurations",
    )
    p.add_argument(
        "--order-weights",
        type=_order_weights_option,
        default=[defaults.ORDER_WEIGHTS],
        help="prior weight per correlation order ν = 1, 2, … (the last for higher orders), "
        "e.g. 30,3,1 (default) or 1 (all alike); settings separated by ';' are a grid "
        "scored on held-out configurations",
    )
    p.add_argument("--weights", default=defaults.WEIGHTS)
    p.add_argument(
        "--pair-cutoffs",
        default=defaults.PAIR_CUTOFFS,
        choices=["data", "fixed"],
        help="data: cut a species pair off just beyond the largest distance the training data "
        "show for it, when that is below --rcut; fixed: --rcut for every pair",
    )
    p.add_argument(
        "--pair-rcut",
        type=float,
        help="add a two-body part with this cutoff (Å) next to the basis, whose own cutoff "
        "(--rcut) may then be shorter: long-range pairs without long-range many-body terms",
    )
    p.add_argument(
        "--pair-max-n",
        type=int,
        default=defaults.PAIR_MAX_N,
        help="radial functions of the two-body part (with --pair-rcut)",
    )
    p.add_argument(
        "--core",
        default=defaults.CORE or "none",
        choices=["zbl", "none"],
        help="fixed ZBL repulsion below the shortest training distances (zero on the data)",
    )
    p.add_argument(
        "--committee",
        type=int,
        default=defaults.COMMITTEE_SIZE,
        help="BLR posterior samples kept for the committee spread (0: none)",
    )
    p.add_argument(
        "--active-set",
        type=int,
        default=defaults.ACTIVE_SET_SIZE,
        help="largest active set per element for the extrapolation grade γ (0: none)",
    )
    p.add_argument("--stress-unit", default=defaults.STRESS_UNIT, help="eV/A3, GPa, bar or kbar")
    p.add_argument(
        "--stress-convention",
        default=defaults.STRESS_CONVENTION,
        choices=["ase", "pressure"],
        help="'pressure' if the files store P = −σ (LAMMPS, FitSNAP data)",
    )
    _add_key_options(p)
    p.add_argument(
        "--preset",
        default="default",
        choices=list(defaults.PRESETS),
        help="basis size when no --degree/--max-n is given: the default degrees scaled by "
        "0.8 (fast), 1 (default) or 1.1 (accurate), then lowered to at most one coefficient "
        "per two training rows and half the free memory; accurate also ranks the pool on "
        "every row (--ranking-rows all) where auto would cap them",
    )
    p.add_argument(
        "--no-memory-check",
        action="store_true",
        help="start even if the estimated peak memory exceeds what the system has free",
    )
    p.add_argument("--config", help="TOML file with any of these options")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("-o", "--output", help="model file (.npz)")
    p.set_defaults(func=cmd_fit)
    p = sub.add_parser("eval", help="error tables of a model on data")
    p.add_argument("model")
    p.add_argument("data", nargs="+")
    p.add_argument("--json")
    p.add_argument("--plot")
    p.add_argument(
        "--uncertainty",
        action="store_true",
        help="committee spread and extrapolation grade per configuration, ranked against the "
        "true errors (costs the design rows of every structure)",
    )
    p.add_argument("--stress-unit", default=defaults.STRESS_UNIT)
    p.add_argument(
        "--stress-convention", default=defaults.STRESS_CONVENTION, choices=["ase", "pressure"]
    )
    _add_key_options(p)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("export", help="write a model as .yace for LAMMPS pair_style pace")
    p.add_argument("model", help="model file (.npz) of ace-ref fit (any radial basis)")
    p.add_argument("-o", "--output", required=True, help="output file (.yace)")
    p.add_argument(
        "--types",
        nargs="+",
        help="element of LAMMPS atom type 1, 2, ... (default: the model's elements)",
    )
    p.add_argument("--evaluator", default="recursive", choices=["recursive", "product"])
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("basis", help="print basis sizes without fitting")
    _add_basis_options(p)
    p.set_defaults(func=cmd_basis)
    p = sub.add_parser(
        "verify",
        help="symmetry, derivative, body-order and smoothness checks of any calculator",
    )
    p.add_argument(
        "calculator",
        help="model file (.npz), 'emt', 'lj' (LennardJones σ=2.0 Å, ε=0.01 eV, rc=5.0 Å) "
        "or 'module:factory'",
    )
    p.add_argument("structure", nargs="?", help="structure file (default: a small cluster)")
    p.add_argument("--plot", help="PNG of the body-order spectrum log|V_M| vs M")
    p.add_argument("--max-M", dest="max_M", type=int, help="largest subset size for body order")
    p.add_argument("--sample", type=int, help="sample this many subsets per size (body order)")
    p.add_argument(
        "--expect-body-order",
        dest="expect_body_order",
        type=int,
        help="claim: V_M = 0 (float64 round-off) for every M above this body order; fails "
        "otherwise (default: what an ace_ref model's basis states; nothing for others)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-smoothness", action="store_true", help="skip the cutoff scan")
    p.add_argument("--json", help="write the report rows as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser(
        "probe", help="scan torsions, stretches and displacements of a structure for holes"
    )
    p.add_argument("calculator", help="model file (.npz), 'emt', 'lj' or 'module:factory'")
    p.add_argument("structure", help="structure file (a relaxed structure is best)")
    p.add_argument(
        "--margin", type=float, default=defaults.PROBE_MARGIN, help="eV below the start: a hole"
    )
    p.add_argument(
        "--spread", action="store_true", help="record the committee spread along every scan"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the scans as JSON")
    p.set_defaults(func=cmd_probe)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"ace-ref: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    """Run one command. Exit codes: 0 success; 1 a check failed (``verify``, ``probe``);
    2 bad input (with a message naming the file, configuration or option); 3 an internal
    error (with the traceback, to report)."""
    import traceback
    import warnings

    words = sys.argv[1:] if argv is None else list(argv)
    command = next((w for w in words if not w.startswith("-")), "")
    try:
        args = parse_arguments(argv)
        command = args.command
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except (ValueError, OSError) as exc:
        print(f"ace-ref {command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ace-ref {command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"ace-ref {command}: error: out of memory (lower the basis size)", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 - a bug, not bad input: say so and show where
        traceback.print_exc()
        print(
            f"ace-ref {command}: internal error (exit 3); please report it with the traceback",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
