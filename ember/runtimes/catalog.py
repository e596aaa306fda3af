"""The runtime catalog: Lambda runtime name → how an environment starts it on this host.

Three kinds of runtime:

- Python (`python3.9` … `python3.13`): Ember's bootstrap on a host interpreter of the same
  minor version;
- Node.js (`nodejs18.x`, `nodejs20.x`, `nodejs22.x`): Ember's bootstrap on a host `node` of
  the same major version;
- OS-only (`provided.al2`, `provided.al2023`): the function's own executable `bootstrap`
  (in its package, else in a layer at /opt/bootstrap) speaks the Runtime API itself.

Interpreters are found once at start-up (see `interpreters.py`) and launched by absolute path.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from ember.runtimes.interpreters import NodeFinder, find_python, helper_python

PYTHON_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
NODE_MAJORS = (18, 20, 22)
CUSTOM_RUNTIMES = ("provided.al2", "provided.al2023")
#: Ember's in-environment runtime files; an environment sees this folder as LAMBDA_RUNTIME_DIR
RUNTIME_FILES_DIR = Path(__file__).parent


class RuntimeKind(StrEnum):
    PYTHON = "python"  #: Ember's Python bootstrap on a host interpreter
    NODEJS = "nodejs"  #: Ember's Node.js bootstrap on a host node
    PROVIDED = "provided"  #: OS-only: the function brings its own bootstrap


@dataclass(frozen=True)
class Runtime:
    """How to start one Lambda runtime: an argv that speaks the Runtime API."""

    name: str  #: Lambda's runtime identifier, e.g. python3.12
    kind: RuntimeKind
    interpreter: Path | None  #: the host interpreter; None for OS-only runtimes, or when missing
    search_note: str  #: what to do when it is missing, for the error at create
    #: why this host's sandbox level cannot run it, though its interpreter is here (None: it can)
    blocked_reason: str | None = None

    @property
    def is_available(self) -> bool:
        return self.blocked_reason is None and (self.kind is RuntimeKind.PROVIDED or self.interpreter is not None)

    @property
    def can_park(self) -> bool:
        """Whether its bootstrap can start before its function is known (see invoke/parking.py)."""
        return self.kind is RuntimeKind.PYTHON

    @property
    def writes_end_marker(self) -> bool:
        """Whether its bootstrap ends each invocation's output with Ember's marker (invoke/output.py)."""
        return self.kind is not RuntimeKind.PROVIDED

    @property
    def execution_env(self) -> str | None:
        """AWS_EXECUTION_ENV: Lambda leaves it unset for OS-only runtimes."""
        return None if self.kind is RuntimeKind.PROVIDED else f"AWS_Lambda_{self.name}"

    @property
    def node_major(self) -> int | None:
        return int(self.name.removeprefix("nodejs").split(".")[0]) if self.kind is RuntimeKind.NODEJS else None

    def lang_dir(self) -> Path | None:
        """The interpreter's own install tree, if it lives outside /usr (a pyenv, nvm or /opt build).

        Environments show it at /var/lang, as Lambda does; Python finds its standard library
        relative to where its executable is, and its libpython through LD_LIBRARY_PATH.
        """
        if self.interpreter is None:
            return None
        prefix = self.interpreter.parent.parent
        return None if prefix.is_relative_to("/usr") else prefix

    def argv(self, runtime_root: str, lang_root: str | None, entrypoint: str | None = None) -> list[str]:
        """The command inside an environment that sees Ember's runtime files at `runtime_root`
        and the interpreter's tree (when it has one) at `lang_root`. OS-only runtimes run
        `entrypoint`, the function's bootstrap as the environment sees it."""
        if self.kind is RuntimeKind.PROVIDED:
            assert entrypoint is not None
            return [entrypoint]
        assert self.interpreter is not None
        interpreter = f"{lang_root}/bin/{self.interpreter.name}" if lang_root else str(self.interpreter)
        if self.kind is RuntimeKind.NODEJS:
            # --expose-gc: Lambda's Node.js runtimes offer global.gc()
            return [interpreter, "--expose-gc", f"{runtime_root}/node/bootstrap.mjs"]
        # -s: no user site-packages; -u: unbuffered, so output interleaves as written.
        return [interpreter, "-s", "-u", f"{runtime_root}/python/bootstrap.py"]


def discover(helper_python_needed: bool = False) -> dict[str, Runtime]:
    """Every runtime Ember knows, each with its interpreter on this host (or None).

    `helper_python_needed`: the sandbox level starts a Python helper before the runtime (see
    Sandbox.needs_helper_python); runtimes that are not Python then need one under /usr.
    """
    runtimes = {}
    for version in PYTHON_VERSIONS:
        name = f"python{version}"
        note = f"set EMBER_PYTHON{version.replace('.', '_')}=/path/to/{name} or install {name}"
        runtimes[name] = Runtime(name, RuntimeKind.PYTHON, find_python(version), note)
    nodes = NodeFinder()
    for major in NODE_MAJORS:
        name = f"nodejs{major}.x"
        note = (f"set EMBER_NODEJS{major}_X=/path/to/node (a Node.js {major} binary) or install Node.js {major} "
                f"(apt-get install nodejs, or nvm install {major})")
        runtimes[name] = Runtime(name, RuntimeKind.NODEJS, nodes.find(major), note)
    for name in CUSTOM_RUNTIMES:
        runtimes[name] = Runtime(name, RuntimeKind.PROVIDED, None, "")
    if helper_python_needed and helper_python() is None:
        reason = ("the rootless sandbox level starts it through a Python helper and this host has no Python 3.9+ "
                  "in /usr/bin (apt-get install python3), or use another --sandbox level")
        runtimes = {name: runtime if runtime.kind is RuntimeKind.PYTHON else replace(runtime, blocked_reason=reason)
                    for name, runtime in runtimes.items()}
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
