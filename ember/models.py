"""The records Ember keeps about functions, as frozen dataclasses with AWS nouns."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Self


class FunctionState(StrEnum):
    PENDING = "Pending"  #: created, not yet ready to invoke
    ACTIVE = "Active"  #: ready to invoke
    INACTIVE = "Inactive"  #: idle long enough that AWS would reclaim resources (unused by Ember)
    FAILED = "Failed"  #: could not be made ready


class UpdateStatus(StrEnum):
    IN_PROGRESS = "InProgress"  #: an update is being applied
    SUCCESSFUL = "Successful"  #: the last update was applied
    FAILED = "Failed"  #: the last update could not be applied


def now_iso() -> str:
    """A timestamp as Lambda writes LastModified: `2024-01-01T12:00:00.000+0000`."""
    moment = dt.datetime.now(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def new_revision_id() -> str:
    return str(uuid.uuid4())


class FlatRecord:
    """A record whose fields are JSON values already: stored as they are, field by field."""

    def to_record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}  # type: ignore[attr-defined]

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Self:
        return cls(**record)


@dataclass(frozen=True)
class FunctionCode:
    """A deployment package as stored: the zip's digest and sizes."""

    sha256_hex: str  #: content address of the zip in the blob store
    sha256_b64: str  #: CodeSha256 as AWS reports it
    size_bytes: int  #: CodeSize
    unzipped_bytes: int


@dataclass(frozen=True)
class FunctionConfig:
    """One function's $LATEST: configuration, code, tags and resource policy."""

    name: str
    runtime: str
    handler: str
    role: str
    code: FunctionCode
    description: str = ""
    timeout_s: int = 3
    memory_mb: int = 128
    ephemeral_storage_mb: int = 512
    environment: dict[str, str] = field(default_factory=dict)
    #: KMSKeyArn: the customer key named for the environment variables, recorded and returned;
    #: Ember seals them at rest with its own key either way (docs/security.md)
    kms_key_arn: str | None = None
    architectures: tuple[str, ...] = ("x86_64",)
    package_type: str = "Zip"
    tags: dict[str, str] = field(default_factory=dict)
    #: layers merged under /opt in this order, later ones overriding earlier ones
    layers: tuple[FunctionLayer, ...] = ()
    #: PutFunctionConcurrency: the most invocations it runs at once, kept for it alone
    reserved_concurrency: int | None = None
    #: PutFunctionRecursionConfig: "Terminate" stops a chain invoking it a 17th time again; "Allow" does not
    recursive_loop: str = "Terminate"
    #: resource-policy statements added with AddPermission, in order
    policy_statements: tuple[dict[str, Any], ...] = ()
    #: DeadLetterConfig.TargetArn: where discarded Event invocations go (None: nowhere)
    dead_letter_target_arn: str | None = None
    #: VpcConfig: the operator's network it runs in (ember/networks.py); None: the server's mode
    vpc: FunctionVpc | None = None
    state: FunctionState = FunctionState.ACTIVE
    state_reason: str | None = None
    state_reason_code: str | None = None
    last_update_status: UpdateStatus = UpdateStatus.SUCCESSFUL
    last_modified: str = field(default_factory=now_iso)
    revision_id: str = field(default_factory=new_revision_id)
    version: str = "$LATEST"

    def revised(self, **changes: Any) -> FunctionConfig:
        """A copy with `changes`, a new RevisionId and, unless given, a new LastModified."""
        changes.setdefault("last_modified", now_iso())
        return replace(self, revision_id=new_revision_id(), **changes)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict for the store."""
        record = {k: getattr(self, k) for k in self.__dataclass_fields__}
        record["code"] = dict(self.code.__dict__)
        record["architectures"] = list(self.architectures)
        record["policy_statements"] = list(self.policy_statements)
        record["layers"] = [{"arn": layer.arn, "code": dict(layer.code.__dict__)} for layer in self.layers]
        record["vpc"] = None if self.vpc is None else {
            "vpc_id": self.vpc.vpc_id, "subnet_ids": list(self.vpc.subnet_ids),
            "security_group_ids": list(self.vpc.security_group_ids), "ipv6_dual_stack": self.vpc.ipv6_dual_stack}
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FunctionConfig:
        values = dict(record)
        values["code"] = FunctionCode(**values["code"])
        values["layers"] = tuple(FunctionLayer(layer["arn"], FunctionCode(**layer["code"]))
                                 for layer in values.get("layers", ()))
        values["architectures"] = tuple(values["architectures"])
        values["policy_statements"] = tuple(values["policy_statements"])
        values["state"] = FunctionState(values["state"])
        values["last_update_status"] = UpdateStatus(values["last_update_status"])
        vpc = values.get("vpc")
        if vpc is not None:
            values["vpc"] = FunctionVpc(vpc["vpc_id"], tuple(vpc["subnet_ids"]), tuple(vpc["security_group_ids"]),
                                        vpc.get("ipv6_dual_stack", False))
        return cls(**values)


@dataclass(frozen=True)
class Alias:
    """A named pointer to a version, optionally splitting traffic with a second version."""

    function_name: str
    name: str
    function_version: str
    description: str = ""
    #: RoutingConfig.AdditionalVersionWeights: {version: share of invocations, 0.0–1.0}
    additional_weights: dict[str, float] = field(default_factory=dict)
    policy_statements: tuple[dict[str, Any], ...] = ()
    revision_id: str = field(default_factory=new_revision_id)

    def revised(self, **changes: Any) -> Alias:
        return replace(self, revision_id=new_revision_id(), **changes)

    def to_record(self) -> dict[str, Any]:
        record = {k: getattr(self, k) for k in self.__dataclass_fields__}
        record["policy_statements"] = list(self.policy_statements)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Alias:
        return cls(**{**record, "policy_statements": tuple(record["policy_statements"])})


@dataclass(frozen=True)
class LayerVersion:
    """One published version of a layer: a zip unpacked under /opt of the functions using it."""

    layer_name: str
    version: int
    code: FunctionCode
    description: str = ""
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()
    license_info: str | None = None
    created_date: str = field(default_factory=now_iso)
    policy_statements: tuple[dict[str, Any], ...] = ()
    revision_id: str = field(default_factory=new_revision_id)

    def to_record(self) -> dict[str, Any]:
        record = {k: getattr(self, k) for k in self.__dataclass_fields__}
        record["code"] = dict(self.code.__dict__)
        for key in ("compatible_runtimes", "compatible_architectures", "policy_statements"):
            record[key] = list(record[key])
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> LayerVersion:
        values = dict(record)
        values["code"] = FunctionCode(**values["code"])
        for key in ("compatible_runtimes", "compatible_architectures", "policy_statements"):
            values[key] = tuple(values[key])
        return cls(**values)


@dataclass(frozen=True)
class FunctionUrlConfig(FlatRecord):
    """A function URL: an HTTPS endpoint of the function ($LATEST) or of one of its aliases."""

    function_name: str
    qualifier: str  #: "$LATEST" for the unqualified function, else an alias name
    url_id: str  #: the host name's first label (32 lowercase letters and digits, as AWS's)
    auth_type: str  #: "NONE" or "AWS_IAM"
    invoke_mode: str = "BUFFERED"  #: or "RESPONSE_STREAM"
    #: the Cors object as the API takes it (AllowOrigins, AllowMethods, ...); None: no CORS
    cors: dict[str, Any] | None = None
    creation_time: str = field(default_factory=now_iso)
    last_modified_time: str = field(default_factory=now_iso)


@dataclass(frozen=True)
class FunctionVpc:
    """A function's VpcConfig, resolved against the operator's networks when it was set."""

    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    ipv6_dual_stack: bool = False


@dataclass(frozen=True)
class FunctionLayer:
    """A layer version as a function holds it: enough to run even after the layer is deleted."""

    arn: str
    code: FunctionCode


#: Lambda's defaults for Event invocations of a function without an event invoke config
DEFAULT_MAX_RETRY_ATTEMPTS = 2
DEFAULT_MAX_EVENT_AGE_S = 21_600


@dataclass(frozen=True)
class EventInvokeConfig(FlatRecord):
    """PutFunctionEventInvokeConfig: how Event invocations of one function, version or alias are
    retried, how long they may wait, and where their records go."""

    function_name: str
    qualifier: str  #: "$LATEST" for the unqualified function, a version number or an alias name
    max_retry_attempts: int | None = None  #: None: not set (Lambda's default of 2 applies)
    max_event_age_s: int | None = None  #: None: not set (Lambda's default of 6 hours applies)
    on_success_arn: str | None = None  #: destination of records of successful invocations
    on_failure_arn: str | None = None  #: destination of records of discarded invocations
    last_modified_s: float = field(default_factory=time.time)  #: epoch seconds

    @property
    def effective_retry_attempts(self) -> int:
        return DEFAULT_MAX_RETRY_ATTEMPTS if self.max_retry_attempts is None else self.max_retry_attempts

    @property
    def effective_max_age_s(self) -> int:
        return DEFAULT_MAX_EVENT_AGE_S if self.max_event_age_s is None else self.max_event_age_s


@dataclass(frozen=True)
class ProvisionedConfig:
    """PutProvisionedConcurrencyConfig: environments kept initialised for a version or alias."""

    function_name: str
    qualifier: str
    requested: int
    last_modified: str = field(default_factory=now_iso)
