"""The runtime catalog: Lambda runtime name → how an environment starts it on this host.

Python runtimes run on a host interpreter of the same minor version, found once at
start-up and launched by absolute path (never through a pyenv/asdf shim, whose
version choice depends on the current directory). Search order for `pythonX.Y`:

1. the environment variable ``EMBER_PYTHON3_12`` (for python3.12), if set;
2. the interpreter running Ember, if it is that version;
3. ``/usr/bin``, ``/usr/local/bin``, ``/opt/homebrew/bin``, then pyenv's
   ``~/.pyenv/versions/X.Y.*/bin`` (newest patch first), then ``PATH`` with shims skipped.
"""

from __future__ import annotations

import glob
import importlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

PYTHON_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
#: Ember's in-environment runtime files; an environment sees this folder as LAMBDA_RUNTIME_DIR
RUNTIME_FILES_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Runtime:
    """How to start one Lambda runtime: an argv that speaks the Runtime API."""

    name: str  #: Lambda's runtime identifier, e.g. python3.12
    interpreter: Path | None  #: None when this host has no interpreter for it
    search_note: str  #: where we looked, for the error when it is missing

    @property
    def is_available(self) -> bool:
        return self.interpreter is not None

    def lang_dir(self) -> Path | None:
        """The interpreter's own install tree, if it lives outside /usr (a pyenv or /opt build).

        Environments show it at /var/lang, as Lambda does; Python finds its standard library
        relative to where its executable is, and its libpython through LD_LIBRARY_PATH.
        """
        assert self.interpreter is not None
        prefix = self.interpreter.parent.parent
        return None if prefix == Path("/usr") else prefix

    def argv(self, runtime_root: str, lang_root: str | None) -> list[str]:
        """The command inside an environment that sees Ember's runtime files at `runtime_root`
        and the interpreter's tree (when it has one) at `lang_root`."""
        assert self.interpreter is not None
        interpreter = f"{lang_root}/bin/{self.interpreter.name}" if lang_root else str(self.interpreter)
        # -s: no user site-packages; -u: unbuffered, so output interleaves as written.
        return [interpreter, "-s", "-u", f"{runtime_root}/python/bootstrap.py"]


def _is_real_binary(path: Path) -> bool:
    if not path.is_file() or not os.access(path, os.X_OK):
        return False
    if "shims" in path.parts:
        return False
    with open(path, "rb") as handle:
        # A shim is a shell script; a real interpreter is a native executable.
        return not handle.read(2) == b"#!"


def find_python(version: str) -> Path | None:
    """The absolute path of a real python`version` interpreter on this host, or None."""
    override = os.environ.get("EMBER_PYTHON" + version.replace(".", "_"))
    if override:
        path = Path(override)
        return path if _is_real_binary(path) else None
    own_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if own_version == version:
        own = Path(os.path.realpath(sys.executable))
        if _is_real_binary(own):
            return own
    candidates = [Path(d) / f"python{version}" for d in ("/usr/bin", "/usr/local/bin", "/opt/homebrew/bin")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    pyenv_builds = glob.glob(str(pyenv_root / "versions" / f"{version}.*" / "bin" / f"python{version}"))
    candidates += sorted((Path(p) for p in pyenv_builds), key=_patch_level, reverse=True)
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        resolved = Path(os.path.realpath(candidate))
        if _is_real_binary(resolved):
            return resolved
    return None


def _patch_level(path: Path) -> tuple[int, ...]:
    version_dir = path.parent.parent.name  # .../versions/3.12.1/bin/python3.12
    return tuple(int(part) if part.isdigit() else 0 for part in version_dir.split("."))


def discover() -> dict[str, Runtime]:
    """Every runtime Ember knows, each with its interpreter on this host (or None)."""
    runtimes = {}
    for version in PYTHON_VERSIONS:
        name = f"python{version}"
        note = f"set EMBER_PYTHON{version.replace('.', '_')}=/path/to/{name} or install {name}"
        runtimes[name] = Runtime(name=name, interpreter=find_python(version), search_note=note)
    return runtimes


#: the AWS SDK for Python that Lambda's Python runtimes include, served from Ember's own install
SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def sdk_paths() -> tuple[Path, ...]:
    """Where Ember's copies of the SDK's packages (folders, or a module file) are on this host."""
    paths = []
    for name in SDK_PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        origin = Path(module.__file__ or "")
        paths.append(origin.parent if origin.name == "__init__.py" else origin)
    return tuple(paths)
