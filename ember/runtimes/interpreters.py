"""Finding the host's language interpreters by absolute path: Python and Node.js.

Environments launch an interpreter by the path found here, never through a version
manager's shim (pyenv, asdf, nvm's `node` on PATH, Volta), whose choice of version
depends on the directory it runs in.

Python `X.Y`, in order:
1. the environment variable ``EMBER_PYTHON3_12`` (for python3.12), if set;
2. the interpreter running Ember, if it is that version;
3. ``/usr/bin``, ``/usr/local/bin``, ``/opt/homebrew/bin``, then pyenv's
   ``~/.pyenv/versions/X.Y.*/bin`` (newest patch first), then ``PATH`` with shims skipped.

Node.js of major version `N`, in order (the first whose ``node --version`` is ``vN.*``):
1. the environment variable ``EMBER_NODEJS20_X`` (for nodejs20.x), if set;
2. ``/usr/bin/node``, ``/usr/local/bin/node``, ``/opt/homebrew/bin/node``, ``/usr/bin/nodeN``;
3. nvm's ``$NVM_DIR/versions/node/vN.*/bin/node`` and fnm's
   ``$FNM_DIR/node-versions/vN.*/installation/bin/node`` (newest first);
4. ``node`` on ``PATH``, shims skipped.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

_SYSTEM_BIN_DIRS = ("/usr/bin", "/usr/local/bin", "/opt/homebrew/bin")


def is_real_binary(path: Path) -> bool:
    """An executable file that is not a version manager's shim (those are scripts, or live in shims/)."""
    if not path.is_file() or not os.access(path, os.X_OK):
        return False
    if "shims" in path.parts:
        return False
    with open(path, "rb") as handle:
        return not handle.read(2) == b"#!"


def _version_key(version_dir: Path) -> tuple[int, ...]:
    """Sort key from a version folder name like `3.12.1` or `v20.11.0`."""
    return tuple(int(part) if part.isdigit() else 0 for part in version_dir.name.lstrip("v").split("."))


def _newest_first(pattern: str, version_dir_of: Callable[[Path], Path]) -> list[Path]:
    """The paths matching `pattern`, newest version first (by the folder `version_dir_of` names)."""
    found = [Path(p) for p in glob.glob(pattern)]
    return sorted(found, key=lambda path: _version_key(version_dir_of(path)), reverse=True)


def find_python(version: str) -> Path | None:
    """The absolute path of a real python`version` interpreter on this host, or None."""
    override = os.environ.get("EMBER_PYTHON" + version.replace(".", "_"))
    if override:
        path = Path(override)
        return path if is_real_binary(path) else None
    own_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if own_version == version:
        own = Path(os.path.realpath(sys.executable))
        if is_real_binary(own):
            return own
    candidates = [Path(d) / f"python{version}" for d in _SYSTEM_BIN_DIRS]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    # .../versions/3.12.1/bin/python3.12: the version folder is two levels up
    candidates += _newest_first(str(pyenv_root / "versions" / f"{version}.*" / "bin" / f"python{version}"),
                                lambda path: path.parent.parent)
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        resolved = Path(os.path.realpath(candidate))
        if is_real_binary(resolved):
            return resolved
    return None


def helper_python() -> Path | None:
    """A Python 3.9+ under /usr (so visible inside every sandbox) for helpers that run before a
    runtime that is not Python itself (the rootless level's listener shim), or None."""
    for name in ("python3", *(f"python3.{minor}" for minor in range(13, 8, -1))):
        resolved = Path(os.path.realpath(Path("/usr/bin") / name))
        match = re.fullmatch(r"python3\.(\d+)", resolved.name)
        if match and int(match[1]) >= 9 and resolved.is_relative_to("/usr") and is_real_binary(resolved):
            return resolved
    return None


class NodeFinder:
    """Finds a host `node` per major version; each candidate binary is asked its version once."""

    def __init__(self) -> None:
        self._versions: dict[Path, str | None] = {}

    def version_of(self, node: Path) -> str | None:
        """`node --version` without the leading v (e.g. "20.11.0"), or None if it would not say."""
        if node not in self._versions:
            try:
                completed = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=10,
                                           check=False, env={"PATH": "/usr/bin:/bin"})
                output = completed.stdout.strip()
                self._versions[node] = output[1:] if completed.returncode == 0 and output.startswith("v") else None
            except (OSError, subprocess.SubprocessError):
                self._versions[node] = None
        return self._versions[node]

    def _is_major(self, node: Path, major: int) -> bool:
        version = self.version_of(node)
        return version is not None and version.split(".")[0] == str(major)

    def find(self, major: int) -> Path | None:
        """The absolute path of a real `node` of major version `major`, or None."""
        override = os.environ.get(f"EMBER_NODEJS{major}_X")
        if override:
            path = Path(os.path.realpath(override))
            return path if is_real_binary(path) and self._is_major(path, major) else None
        for candidate in self._candidates(major):
            resolved = Path(os.path.realpath(candidate))
            # Volta and asdf put a `node` on PATH that is really their own launcher.
            if not resolved.name.startswith("node") or not is_real_binary(resolved):
                continue
            if self._is_major(resolved, major):
                return resolved
        return None

    @staticmethod
    def _candidates(major: int) -> list[Path]:
        candidates = [Path(d) / "node" for d in _SYSTEM_BIN_DIRS] + [Path(f"/usr/bin/node{major}")]
        nvm_dir = Path(os.environ.get("NVM_DIR", Path.home() / ".nvm"))
        candidates += _newest_first(str(nvm_dir / "versions" / "node" / f"v{major}.*" / "bin" / "node"),
                                    lambda path: path.parent.parent)
        for fnm_dir in filter(None, (os.environ.get("FNM_DIR"), str(Path.home() / ".local/share/fnm"),
                                     str(Path.home() / ".fnm"))):
            candidates += _newest_first(str(Path(fnm_dir) / "node-versions" / f"v{major}.*" / "installation" /
                                            "bin" / "node"), lambda path: path.parent.parent.parent)
        on_path = shutil.which("node")
        if on_path:
            candidates.append(Path(on_path))
        return candidates
