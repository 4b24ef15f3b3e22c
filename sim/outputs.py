"""Writing a run's results atomically: everything goes to a temporary sibling folder that is
renamed into place at the end, so a killed run leaves either the whole folder or nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import ScenarioError


def plain(value: Any) -> Any:
    """numpy scalars (also inside dicts and lists) as plain Python values, for JSON, YAML and Parquet."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(plain(data), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _umask() -> int:
    """The process umask (reading it means setting it, so it is put back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_folder(final: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `final` in one rename."""
    final = final.resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700; the result gets what `mkdir` would
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def replace_atomically(path: Path, write) -> None:
    """Write `path` through a temporary file beside it, flushed to disk, then renamed: the file is
    whole or absent, and a failed write leaves nothing behind."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def git_commit(folder: Path) -> str | None:
    """The commit of the checkout the code runs from, if it is one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def results_folder(out: str | None, overwrite: bool, name: str) -> Path:
    """The results folder: `out`, or results/<name>-<timestamp>. An existing folder is replaced
    only if it holds an earlier result and `overwrite` is set (bad input otherwise)."""
    if out:
        folder = Path(out)
        if folder.exists() and not folder.is_dir():
            raise ScenarioError(f"--out {out}", None, "exists and is not a folder")
        if folder.is_dir() and any(folder.iterdir()):
            earlier = (folder / "manifest.json").is_file()
            if not (earlier and overwrite):
                hint = ("it holds an earlier result: pass --overwrite to replace it" if earlier
                        else "it is not an ecomsim result folder and would be replaced")
                raise ScenarioError(f"--out {out}", None, f"folder exists and is not empty ({hint}); "
                                    "choose a new folder")
        return folder
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{name}-{stamp}"
