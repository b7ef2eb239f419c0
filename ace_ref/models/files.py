"""The model file format: one ``.npz`` with ``coefficients`` and a JSON ``header``, no pickle.

The header holds the format name and version, the basis specification and its fingerprint, E0,
fit metadata and the SHA-256 of the coefficients; files are written atomically and every defect
on reading raises :class:`ModelFileError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ace_ref._atomic_write import atomic_path
from ace_ref.models.core import RepulsiveCore
from ace_ref.models.uncertainty import Uncertainty

__all__ = [
    "ModelFile",
    "ModelFileError",
    "checked_core",
    "checked_parts",
    "write_model_file",
    "read_model_file",
    "model_from_parts",
]


class ModelFileError(ValueError):
    """A model file that is missing, truncated, tampered with or of an unknown version."""


def checked_parts(basis, coefficients, e0=None, metadata=None) -> tuple[np.ndarray, dict, dict]:
    """A model's coefficients (``len(basis)`` finite floats), E0 per basis element (0 where not
    given) and metadata, checked and copied; bad coefficients raise ``ValueError``."""
    c = np.asarray(coefficients, dtype=float)
    if c.shape != (len(basis),):
        raise ValueError(f"expected {len(basis)} coefficients, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("coefficients contain NaN or inf")
    e0 = dict(e0 or {})
    return c, {el: float(e0.get(el, 0.0)) for el in basis.elements}, dict(metadata or {})


def checked_core(basis, core) -> RepulsiveCore | None:
    """``core`` if it is ``None`` or a :class:`RepulsiveCore` on the basis's elements."""
    if core is not None and (
        not isinstance(core, RepulsiveCore) or list(core.elements) != list(basis.elements)
    ):
        raise ValueError(f"the repulsive core must be a RepulsiveCore on {basis.elements}")
    return core


def write_model_file(path: str | Path, format_name: str, version: int, model) -> Path:
    """Write ``model`` (``basis``, ``coefficients``, ``e0``, ``metadata``) as the ``.npz`` of
    the module docstring under ``format_name``/``version``, atomically; returns the path."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    header = {
        "format": format_name,
        "version": version,
        "basis": model.basis.to_dict(),
        "e0": model.e0,
        "metadata": model.metadata,
        "coefficients_sha256": hashlib.sha256(model.coefficients.tobytes()).hexdigest(),
        "basis_fingerprint": model.basis.fingerprint(),
    }
    if getattr(model, "core", None) is not None:
        header["core"] = model.core.to_dict()
    arrays: dict[str, np.ndarray] = {}
    uncertainty = getattr(model, "uncertainty", None)
    if uncertainty is not None:
        part, arrays = uncertainty.to_parts()
        header["uncertainty"] = part
        header["arrays_sha256"] = _arrays_digest(arrays)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            header=np.array(json.dumps(header, sort_keys=True)),
            coefficients=model.coefficients,
            **arrays,
        )
    return path


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``arrays`` in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class ModelFile(NamedTuple):
    """The parts of a model file as read, before any check of their meaning."""

    path: Path
    header: dict
    coefficients: np.ndarray
    arrays: dict[str, np.ndarray]
    """Every other array of the file (the uncertainty data of version 2)."""


def read_model_file(path: str | Path) -> ModelFile:
    """The parts of a model file; unreadable → ModelFileError."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            header = json.loads(str(f["header"]))
            coefficients = np.array(f["coefficients"])
            arrays = {k: np.array(f[k]) for k in f.files if k not in ("header", "coefficients")}
    except Exception as exc:  # noqa: BLE001 - anything unreadable is a corrupt file
        raise ModelFileError(f"{path}: not a readable ace_ref model file ({exc})") from exc
    return ModelFile(path, header, coefficients, arrays)


def model_from_parts(
    path: Path,
    header: dict,
    coefficients: np.ndarray,
    arrays: dict[str, np.ndarray],
    *,
    format_name: str,
    version: int,
    basis_class,
    model_class,
    cache_dir="default",
):
    """Check a file's header, coefficients and arrays (format, version ≤ ``version``, dtype,
    checksums, basis fingerprint) and build ``model_class`` on ``basis_class`` (with its
    :class:`~ace_ref.models.uncertainty.Uncertainty` where the file has one); any defect →
    ModelFileError."""
    if header.get("format") != format_name:
        raise ModelFileError(f"{path}: not an {format_name} file (format {header.get('format')!r})")
    if header.get("version") not in range(1, version + 1):
        raise ModelFileError(
            f"{path}: model format version {header.get('version')} is not "
            f"supported (this ace_ref reads versions 1 to {version})"
        )
    if coefficients.dtype != np.float64 or coefficients.ndim != 1:
        raise ModelFileError(f"{path}: coefficients must be a 1-d float64 array")
    if hashlib.sha256(coefficients.tobytes()).hexdigest() != header.get("coefficients_sha256"):
        raise ModelFileError(f"{path}: coefficients do not match their checksum (file altered)")
    if (arrays or "arrays_sha256" in header) and _arrays_digest(arrays) != header.get(
        "arrays_sha256"
    ):
        raise ModelFileError(
            f"{path}: uncertainty arrays do not match their checksum (file altered)"
        )
    try:
        basis = basis_class.from_dict(header["basis"], cache_dir=cache_dir)
        uncertainty = None
        if "uncertainty" in header:
            uncertainty = Uncertainty.from_parts(header["uncertainty"], arrays)
        core = RepulsiveCore.from_dict(header["core"]) if "core" in header else None
        model = model_class(
            basis, coefficients, header["e0"], header.get("metadata"), uncertainty, core
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid model header ({exc})") from exc
    if header.get("basis_fingerprint") != basis.fingerprint():
        raise ModelFileError(
            f"{path}: the basis this ace_ref builds from the stored specification differs from "
            "the one the coefficients were fitted with (basis fingerprint mismatch)"
        )
    return model
