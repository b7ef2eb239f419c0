"""Atomic file writes: a crash or an error never leaves a half-written output file."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path"]


def _mode_for(path: Path) -> int:
    """Permission bits of an existing ``path``, else ``0o666`` less the process umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)  # reading the umask means setting it; put it straight back
        os.umask(umask)
        return 0o666 & ~umask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    The temporary file lives in the same directory (so the rename is atomic) and is removed
    whatever happens. Writers must not rely on the suffix of the temporary name (pass
    ``format=`` to matplotlib, an open file handle to ``np.savez``). The file gets the
    permissions a plain ``open(path, "w")`` would give: those of the file it replaces, or
    ``0o666`` less the umask (``mkstemp`` alone would make it ``0o600``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
