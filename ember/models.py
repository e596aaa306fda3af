"""The records Ember keeps about functions, as frozen dataclasses with AWS nouns."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


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
    architectures: tuple[str, ...] = ("x86_64",)
    package_type: str = "Zip"
    tags: dict[str, str] = field(default_factory=dict)
    #: resource-policy statements added with AddPermission, in order
    policy_statements: tuple[dict[str, Any], ...] = ()
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
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FunctionConfig:
        values = dict(record)
        values["code"] = FunctionCode(**values["code"])
        values["architectures"] = tuple(values["architectures"])
        values["policy_statements"] = tuple(values["policy_statements"])
        values["state"] = FunctionState(values["state"])
        values["last_update_status"] = UpdateStatus(values["last_update_status"])
        return cls(**values)
