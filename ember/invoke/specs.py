"""What the sandbox starts for a function: its command, environment variables and folders.

The paths inside an environment depend on the sandbox level (/var/task, /opt... where there is
a mount namespace; the host's folders at the plain level), so every path a variable or an argv
names comes from the Sandbox's roots.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ember.arns import Home
from ember.clock import Clock, SystemClock
from ember.egress import Reach
from ember.iam.session_tokens import IssuedCredentials
from ember.invoke.credentials import credential_variables
from ember.invoke.entrypoints import custom_bootstrap, with_extensions
from ember.invoke.environment import log_stream_name, new_environment_id
from ember.invoke.parking import PARKED_MEMORY_MB, PARKED_TMP_SIZE_MB
from ember.models import FunctionConfig
from ember.networks import NetworkRegistry
from ember.runtimes.catalog import RUNTIME_FILES_DIR, Runtime, RuntimeKind, sdk_paths
from ember.runtimes.interpreters import helper_python
from ember.sandbox import Sandbox, SandboxSpec


@dataclass(frozen=True, slots=True)
class EnvironmentPolicy:
    """What the invoke layer takes from the server's settings to start environments."""

    #: the account and region: the ARNs environments are told, AWS_REGION
    home: Home
    #: the data dir, whose disk must have room before a new environment starts
    data_dir: Path
    #: each environment's work folder goes under it
    environments_dir: Path
    #: imported by parked Python environments while they wait for a function
    preimport_modules: tuple[str, ...] = ()
    #: environments kept started ahead per runtime, at levels that can park (0: none)
    parked_per_runtime: int = 0
    #: the server's listener for functions on the host's loopback (edge.function_api), which
    #: environments sharing the host's network reach Ember's AWS APIs on; None: none
    host_aws_endpoint: str | None = None
    #: the operator's VPC networks: what a function with a VpcConfig reaches (None: no networks)
    networks: NetworkRegistry | None = None


@dataclass(frozen=True)
class Roots:
    """Where an environment sees its code, Ember's runtime files, the interpreter and /opt."""

    task: str
    runtime: str
    lang: str | None
    opt: str


class SpecBuilder:
    """Builds SandboxSpecs for one server's environment policy and sandbox level."""

    def __init__(self, policy: EnvironmentPolicy, sandbox: Sandbox, clock: Clock | None = None) -> None:
        self.policy = policy
        self.sandbox = sandbox
        self.clock = clock or SystemClock()  #: dates the log stream names
        self.sdk_paths = sdk_paths()
        #: a host Python for helpers the sandbox starts before a runtime that is not Python
        helper = helper_python()
        self.helper_python = str(helper) if helper else None

    def _roots(self, task_dir: Path, lang_dir: Path | None, opt_dir: Path | None) -> Roots:
        return Roots(task=self.sandbox.task_root(task_dir), runtime=self.sandbox.runtime_root(RUNTIME_FILES_DIR),
                     lang=self.sandbox.lang_root(lang_dir) if lang_dir else None, opt=self.sandbox.opt_root(opt_dir))

    def for_function(self, function: FunctionConfig, runtime: Runtime, task_dir: Path, opt_dir: Path | None,
                     extensions: tuple[str, ...], initialization_type: str,
                     credentials: IssuedCredentials | None = None) -> SandboxSpec:
        """What the sandbox starts for `function`, its code unpacked in `task_dir` and its layers merged
        in `opt_dir` (with `extensions` from its /opt/extensions), running as its execution role's
        `credentials`; InvalidEntrypoint for a custom runtime without a bootstrap it can run."""
        environment_id = new_environment_id()
        lang_dir = runtime.lang_dir()
        roots = self._roots(task_dir, lang_dir, opt_dir)
        entrypoint = None
        if runtime.kind is RuntimeKind.PROVIDED:
            entrypoint = custom_bootstrap(task_dir, opt_dir, roots.task, roots.opt)
        argv = runtime.argv(roots.runtime, roots.lang, entrypoint)
        is_python = runtime.kind is RuntimeKind.PYTHON
        return SandboxSpec(
            environment_id=environment_id,
            argv=with_extensions(argv, extensions, roots.runtime, roots.opt),
            env={**self._variables(function, runtime, roots, credentials),
                 "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type},
            task_dir=task_dir,
            runtime_dir=RUNTIME_FILES_DIR,
            lang_dir=lang_dir,
            opt_dir=opt_dir,
            work_dir=self.policy.environments_dir / environment_id,
            sdk_paths=self.sdk_paths if is_python else (),
            memory_mb=function.memory_mb,
            tmp_size_mb=function.ephemeral_storage_mb,
            python=argv[0] if is_python else self.helper_python,
            has_start_gate=bool(extensions),
            reach=self._reach(function),
        )

    def _reach(self, function: FunctionConfig) -> Reach | None:
        """What a function in a VPC network reaches, as its network's rules say now; None: the
        server's mode."""
        if function.vpc is None:
            return None
        if self.policy.networks is None:
            return Reach()
        return self.policy.networks.reach_of(function.vpc.vpc_id, function.vpc.security_group_ids)

    def parked(self, runtime: Runtime) -> SandboxSpec:
        """A spec for `runtime` (one that can park) with no function yet: see invoke/parking.py."""
        assert runtime.can_park, runtime.name
        lang_dir = runtime.lang_dir()
        environment_id = new_environment_id()
        # Only levels whose paths do not depend on the function park (Sandbox.can_park), so
        # the search paths are already those the function will get.
        roots = self._roots(Path("/"), lang_dir, None)
        env = {**search_paths(roots), "LANG": "en_US.UTF-8", "TZ": ":UTC",
               "_EMBER_PARKED": "1", "_EMBER_PREIMPORT": ",".join(self.policy.preimport_modules),
               "_EMBER_SDK_PATHS": self.sandbox.sdk_root(self.sdk_paths)}
        argv = runtime.argv(roots.runtime, roots.lang)
        return SandboxSpec(
            environment_id=environment_id,
            argv=argv,
            env=env,
            task_dir=None,
            runtime_dir=RUNTIME_FILES_DIR,
            lang_dir=lang_dir,
            opt_dir=None,
            work_dir=self.policy.environments_dir / environment_id,
            sdk_paths=self.sdk_paths,
            memory_mb=PARKED_MEMORY_MB,
            tmp_size_mb=PARKED_TMP_SIZE_MB,
            python=argv[0],
        )

    def refused(self, function: FunctionConfig, task_dir: Path) -> SandboxSpec:
        """The spec of an environment refused before it starts (nothing is made from it)."""
        environment_id = new_environment_id()
        return SandboxSpec(environment_id=environment_id, argv=[], env={}, task_dir=task_dir,
                           runtime_dir=RUNTIME_FILES_DIR, lang_dir=None, opt_dir=None,
                           work_dir=self.policy.environments_dir / environment_id, memory_mb=function.memory_mb,
                           tmp_size_mb=function.ephemeral_storage_mb)

    def _variables(self, function: FunctionConfig, runtime: Runtime, roots: Roots,
                   credentials: IssuedCredentials | None) -> dict[str, str]:
        region = self.policy.home.region
        defaults = {"TZ": ":UTC", "LANG": "en_US.UTF-8", **search_paths(roots)}
        # Ember's AWS APIs from inside, for the SDKs (botocore 1.34+, the JS SDK v3). Not reserved
        # (AWS reserves no AWS_ENDPOINT_URL): a function's own value wins, as it would on Lambda.
        endpoint = self.sandbox.aws_endpoint(self.policy.host_aws_endpoint)
        if endpoint is not None:
            defaults["AWS_ENDPOINT_URL"] = endpoint
        if runtime.kind is RuntimeKind.NODEJS:
            # Lambda's: layers' packages (/opt/nodejs/nodeNN/node_modules, /opt/nodejs/node_modules), then
            # the runtime's, then the function's own.
            defaults["NODE_PATH"] = (f"{roots.opt}/nodejs/node{runtime.node_major}/node_modules:"
                                     f"{roots.opt}/nodejs/node_modules:{roots.runtime}/node_modules:{roots.runtime}:"
                                     f"{roots.task}")
        reserved = {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": function.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name(function.version, self.clock.time_s()),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "LAMBDA_TASK_ROOT": roots.task,
            "LAMBDA_RUNTIME_DIR": roots.runtime,
            "_HANDLER": function.handler,
        }
        if credentials is not None:
            reserved.update(credential_variables(credentials))
        if runtime.execution_env:
            reserved["AWS_EXECUTION_ENV"] = runtime.execution_env  # unset for OS-only runtimes, as on Lambda
        if runtime.kind is RuntimeKind.PYTHON:
            if roots.opt != "/opt":
                reserved["_EMBER_OPT_ROOT"] = roots.opt  # the plain level has no /opt: tell the bootstrap
            reserved["_EMBER_SDK_PATHS"] = self.sandbox.sdk_root(self.sdk_paths)
        # As on Lambda: users may override PATH, TZ, LANG..., never the reserved keys.
        return {**defaults, **function.environment, **reserved}


def search_paths(roots: Roots) -> dict[str, str]:
    """Lambda's own PATH and LD_LIBRARY_PATH, with /opt/bin and /opt/lib for layers."""
    lang_bin = f"{roots.lang}/bin:" if roots.lang else ""
    lang_lib = f"{roots.lang}/lib:" if roots.lang else ""  # a shared libpython lives there
    return {
        "PATH": f"{lang_bin}/usr/local/bin:/usr/bin:/bin:{roots.opt}/bin",
        "LD_LIBRARY_PATH": f"{lang_lib}/lib64:/usr/lib64:{roots.runtime}:{roots.runtime}/lib:{roots.task}:"
                           f"{roots.task}/lib:{roots.opt}/lib",
    }
