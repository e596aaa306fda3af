"""Sandboxes: where an execution environment's process tree runs, at a named isolation level.

Implementations are listed by import string and chosen at start-up, so a level's
dependencies load only when it is used.
"""

from __future__ import annotations

from pathlib import Path

from ember.backends import backend_class
from ember.sandbox.base import Sandbox, SandboxProcess, SandboxSpec, SandboxUnavailable
from ember.sandbox.function_network import FunctionNetwork, NetworkUnavailable

__all__ = ["NetworkUnavailable", "Sandbox", "SandboxProcess", "SandboxSpec", "SandboxUnavailable", "choose_sandbox"]

#: strongest first; "auto" takes the first one the host can give
SANDBOXES = {
    "isolated": "ember.sandbox.isolated:IsolatedSandbox",
    "rootless": "ember.sandbox.rootless:RootlessSandbox",
    "plain": "ember.sandbox.plain:PlainSandbox",
}


def choose_sandbox(level: str, state_dir: Path, network: FunctionNetwork | None = None) -> Sandbox:
    """The sandbox for `level` ("auto" = strongest available); SandboxUnavailable says why not.

    `state_dir` (the data dir) holds what a level keeps on disk, e.g. the generated /etc;
    `network` is the function network its environments get (None: mode none).
    """
    names = list(SANDBOXES) if level == "auto" else [level]
    reasons = []
    for name in names:
        if name not in SANDBOXES:
            raise SandboxUnavailable(f"unknown sandbox level {name!r}; choose one of: auto, {', '.join(SANDBOXES)}")
        sandbox_class = backend_class(SANDBOXES[name], Sandbox)
        reason = sandbox_class.unavailable_reason()
        if reason is None:
            return sandbox_class(state_dir, network)
        reasons.append(f"{name}: {reason}")
    raise SandboxUnavailable("; ".join(reasons))
