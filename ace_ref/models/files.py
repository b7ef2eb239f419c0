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
    "CouplingCacheError",
    "ModelFileError",
    "checked_core",
    "checked_e0",
    "checked_parts",
    "header_digest",
    "write_model_file",
    "read_model_file",
    "model_from_parts",
]


class ModelFileError(ValueError):
    """A model file that is missing, truncated, tampered with or of an unknown version."""


class CouplingCacheError(ValueError):
    """The on-disk coupling cache gives coefficients that a fresh computation does not."""


def cache_dir_text(cache_dir) -> str:
    from ace_ref.coupling.cache import default_cache_dir

    return str(default_cache_dir() if cache_dir == "default" else cache_dir)


def checked_e0(elements, e0) -> dict[str, float]:
    """Isolated-atom energies for exactly ``elements``: ``None`` means none (0.0 for every
    element); a mapping must give every element a finite number and name no other."""
    if e0 is None:
        return {el: 0.0 for el in elements}
    if not isinstance(e0, dict):
        raise ValueError(f"E0 must map elements to energies, got {type(e0).__name__}")
    missing = [el for el in elements if el not in e0]
    if missing:
        raise ValueError(f"E0 has no entry for {', '.join(missing)}")
    extra = [str(el) for el in e0 if el not in elements]
    if extra:
        raise ValueError(f"E0 names {', '.join(extra)}, not an element of the basis {elements}")
    out = {}
    for el in elements:
        value = e0[el]
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
            raise ValueError(f"E0 of {el} must be a number, got {value!r}")
        if not np.isfinite(value):
            raise ValueError(f"E0 of {el} is not finite ({value})")
        out[el] = float(value)
    return out


def checked_parts(basis, coefficients, e0=None, metadata=None) -> tuple[np.ndarray, dict, dict]:
    """A model's coefficients (``len(basis)`` finite floats), E0 (:func:`checked_e0`) and
    metadata, checked and copied; any defect raises ``ValueError``."""
    c = np.asarray(coefficients, dtype=float)
    if c.shape != (len(basis),):
        raise ValueError(f"expected {len(basis)} coefficients, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("coefficients contain NaN or inf")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    return c, checked_e0(list(basis.elements), e0), dict(metadata or {})


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
    header["header_sha256"] = header_digest(header)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            header=np.array(json.dumps(header, sort_keys=True)),
            coefficients=model.coefficients,
            **arrays,
        )
    return path


def header_digest(header: dict) -> str:
    """SHA-256 of the header's canonical JSON (sorted keys), its own ``header_sha256``
    left out: E0, basis, core, metadata and the other checksums are all inside it."""
    body = {k: v for k, v in header.items() if k != "header_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


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
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory, not a model file")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":  # every .npz is a zip archive
        raise ModelFileError(
            f"{path}: not an ace_ref model file (a model is a .npz archive; this file "
            f"starts with {magic!r})"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            header = json.loads(str(f["header"]))
            coefficients = np.array(f["coefficients"])
            arrays = {k: np.array(f[k]) for k in f.files if k not in ("header", "coefficients")}
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: the model header is not valid JSON ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - anything unreadable is a corrupt file
        raise ModelFileError(f"{path}: not a readable ace_ref model file ({exc})") from exc
    if not isinstance(header, dict):
        raise ModelFileError(
            f"{path}: the model header is JSON but not an object (got {type(header).__name__})"
        )
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
    if "header_sha256" in header or header.get("version") == version:
        # files of this version always carry it; older versions predate it
        if header.get("header_sha256") != header_digest(header):
            raise ModelFileError(
                f"{path}: the header (E0, basis, metadata, uncertainty) does not match its "
                "checksum (file altered)"
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
        fresh = basis_class.from_dict(header["basis"], cache_dir=None)
        if cache_dir is not None and header.get("basis_fingerprint") == fresh.fingerprint():
            raise CouplingCacheError(
                f"the coupling cache ({cache_dir_text(cache_dir)}) holds entries that differ "
                f"from freshly computed coupling coefficients, so it cannot build the basis "
                f"of {path}; delete that directory (it is rebuilt on demand)"
            )
        raise ModelFileError(
            f"{path}: the basis this ace_ref builds from the stored specification differs from "
            "the one the coefficients were fitted with (basis fingerprint mismatch)"
        )
    return model
