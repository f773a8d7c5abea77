"""Files written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from user_failure_stats.errors import OutputError


def atomic_write(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then move it into place.

    The move replaces a link at ``path`` rather than writing through it.

    Raises:
        OutputError: The file cannot be written (a missing or read-only folder, a full disk),
            naming the file and the reason.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return path
