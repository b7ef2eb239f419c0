"""On-disk cache of coupled blocks: content-addressed, verified on load, written atomically.

:class:`CouplingCache` stores every :class:`~ace_ref.coupling.symmetric.CoupledBlock` under the
SHA-256 of its
request; a damaged or foreign entry is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from ace_ref._atomic_write import atomic_path
from ace_ref.coupling.symmetric import CoupledBlock, _build_block

__all__ = ["CACHE_FORMAT_VERSION", "default_cache_dir", "CouplingCache", "coupled_block"]


CACHE_FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """``$ACE_REF_CACHE`` if set, else ``~/.cache/ace_ref``."""
    env = os.environ.get("ACE_REF_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "ace_ref"


class CouplingCache:
    """Content-addressed on-disk cache of :class:`CoupledBlock` objects.

    The file name is the SHA-256 of the request (block, output irrep, format version); the
    file stores the request and a SHA-256 digest of its arrays. On load both are verified;
    a missing, unreadable or corrupt entry is rebuilt (with a warning if it existed) and
    rewritten atomically. ``directory=None`` disables the disk cache.
    """

    def __init__(self, directory: str | Path | None = "default") -> None:
        if directory == "default":
            directory = default_cache_dir()
        self.directory = None if directory is None else Path(directory) / "coupling"
        self._memory: dict = {}

    @staticmethod
    def _request(ls, group_sizes, L, parity) -> dict:
        return {
            "format": CACHE_FORMAT_VERSION,
            "ls": [int(x) for x in ls],
            "group_sizes": [int(x) for x in group_sizes],
            "L": int(L),
            "parity": int(parity),
        }

    @staticmethod
    def _digest(request: dict, arrays: dict[str, np.ndarray]) -> str:
        h = hashlib.sha256(json.dumps(request, sort_keys=True).encode())
        for name in sorted(arrays):
            a = np.ascontiguousarray(arrays[name])
            h.update(name.encode())
            h.update(str(a.dtype).encode())
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
        return h.hexdigest()

    def get(self, ls, group_sizes, L: int = 0, parity: int = 1) -> CoupledBlock:
        """Return the block, from memory, from disk (verified) or freshly built."""
        ls, group_sizes = tuple(int(x) for x in ls), tuple(int(x) for x in group_sizes)
        memory_key = (ls, group_sizes, int(L), int(parity))
        if memory_key in self._memory:
            return self._memory[memory_key]
        request = self._request(ls, group_sizes, L, parity)
        key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        block = None
        path = None if self.directory is None else self.directory / f"{key}.npz"
        if path is not None and path.exists():
            block = self._load(path, request)
        if block is None:
            block = _build_block(ls, group_sizes, L, parity)
            if path is not None:
                self._save(path, request, block)
        self._memory[memory_key] = block
        return block

    def _load(self, path: Path, request: dict) -> CoupledBlock | None:
        try:
            with np.load(path, allow_pickle=False) as f:
                meta = json.loads(str(f["meta"]))
                arrays = {k: f[k] for k in ("m_tuples", "coeffs", "paths")}
            if meta["request"] != request:
                raise ValueError("request stored in the file does not match its name")
            if meta["digest"] != self._digest(request, arrays):
                raise ValueError("checksum mismatch")
        except Exception as exc:  # noqa: BLE001 - any failure means: do not trust, rebuild
            warnings.warn(
                f"coupling cache entry {path} is corrupt ({exc}); rebuilding it",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        return CoupledBlock(
            tuple(request["ls"]),
            tuple(request["group_sizes"]),
            request["L"],
            request["parity"],
            arrays["m_tuples"],
            arrays["coeffs"],
            arrays["paths"],
        )

    def _save(self, path: Path, request: dict, block: CoupledBlock) -> None:
        arrays = {"m_tuples": block.m_tuples, "coeffs": block.coeffs, "paths": block.paths}
        meta = json.dumps({"request": request, "digest": self._digest(request, arrays)})
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, meta=np.array(meta), **arrays)
        except OSError as exc:
            warnings.warn(f"could not write coupling cache {path}: {exc}", stacklevel=3)


def coupled_block(
    ls, group_sizes=None, L: int = 0, parity: int | None = None, cache: CouplingCache | None = None
) -> CoupledBlock:
    """Independent coupled functions for the block ``ls`` (see module docstring).

    ``group_sizes`` defaults to all factors distinct; ``parity`` defaults to ``(-1)^L``
    (proper tensors). ``cache=None`` builds without touching the disk.
    """
    ls = tuple(int(x) for x in ls)
    if group_sizes is None:
        group_sizes = (1,) * len(ls)
    if parity is None:
        parity = (-1) ** L
    if cache is None:
        return _build_block(ls, tuple(group_sizes), L, parity)
    return cache.get(ls, group_sizes, L, parity)
