"""What a built-in AWS service gives the edge: its model and its operation handlers.

The plumbing every service shares sits here, below the services and the edge alike, so a
service never imports the entry point that serves it.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import botocore.session
from botocore.model import ServiceModel

from ember.errors import EmberError, ValidationException
from ember.iam.request import ContextValue
from ember.protocol import HttpRequest, HttpResponse, Protocol, protocol_for
from ember.protocol.validate import ShapeCheck


class CallerKind(StrEnum):
    """What signed a request."""

    ROOT = "root"  #: the account's root credentials (or, in open mode, any credentials Ember does not know)
    USER = "user"  #: an IAM user's access key
    ROLE_SESSION = "role-session"  #: temporary credentials of an assumed role (AssumeRole, a function's role)
    USER_SESSION = "user-session"  #: temporary credentials of a user (GetSessionToken)


@dataclass(frozen=True)
class Caller:
    """Who a request acts as."""

    kind: CallerKind
    #: the principal's ARN as AWS writes it: ...:root, ...:user/path/NAME, or
    #: arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
    arn: str
    account_id: str
    #: aws:userid: the account id for root, AIDA… for a user, AROA…:SESSION for a role session
    user_id: str
    #: the user's or the role's name ("" for root)
    name: str = ""
    access_key_id: str | None = None
    #: for a session: the identity whose policies it has (the role's or the user's ARN)
    source_arn: str | None = None
    #: for a session: the session policy that further limits it (JSON text)
    session_policy: str | None = None

    @property
    def is_session(self) -> bool:
        """Whether it signed with temporary credentials (a session of a role, a user or the root)."""
        return self.source_arn is not None


@dataclass(frozen=True)
class RequestContext:
    """Facts about the request that handlers may need beyond its parameters."""

    request_id: str
    region: str
    account_id: str
    base_url: str  #: scheme://host:port the client used, for URLs handed back to it
    headers: dict[str, str]
    #: who signed the request (the root in open mode when the credentials are not Ember's)
    caller: Caller | None = None


@dataclass(frozen=True)
class Target:
    """One thing an operation does, as policies see it."""

    #: `service:Action`; None: the operation's own action from the catalogue
    action: str | None = None
    #: the resource's ARN; None: no particular resource ("*")
    resource: str | None = None
    #: the resource-based policy guarding it (JSON text), if it has one
    resource_policy: str | None = None
    #: a role's trust policy must allow on its own (not only an identity-based policy)
    is_trust_policy: bool = False
    #: service condition keys (lambda:FunctionArn...)
    keys: Mapping[str, ContextValue] = field(default_factory=dict)


#: a service's hook: the targets of one operation with these parameters
Targets = Callable[[str, dict[str, Any], RequestContext], Awaitable[Sequence[Target]]]


Handler = Callable[[RequestContext, dict[str, Any]], Awaitable[dict[str, Any]]]
#: a route of Ember's own (not an AWS API): path regex → async handler
InternalRoute = tuple[str, re.Pattern[str], Callable[[HttpRequest, re.Match[str]], Awaitable[HttpResponse]]]


@dataclass
class FrontDoorCall:
    """An HTTP request to a function's own endpoint (a function URL), as the edge received it."""

    request: HttpRequest
    #: every header line in order, names lower-case (`request.headers` keeps one per name)
    header_lines: list[tuple[str, str]]
    source_ip: str
    http_version: str  #: "1.1"
    #: the body, read now, up to `max_bytes`; None when it is larger
    read_body: Callable[[int], Awaitable[bytes | None]]


class FrontDoor(ABC):
    """An HTTP endpoint in front of functions, answered before any AWS API routing and outside the
    browser guard (it applies its own CORS): function URLs now, API Gateway's stages later."""

    @abstractmethod
    def claims(self, request: HttpRequest) -> bool:
        """Whether the request is for this door (by its Host header or its path)."""

    @abstractmethod
    async def answer(self, call: FrontDoorCall) -> tuple[str, HttpResponse]:
        """(a label for the access log, the response)."""


@dataclass(frozen=True)
class BodyLimit:
    """The most bytes an operation's request body may have, and the error beyond it."""

    max_bytes: int
    error: Callable[[], EmberError]


@dataclass
class Service:
    """A built-in service: operation handlers keyed by operation name, driven by its model."""

    model: ServiceModel
    handlers: dict[str, Handler]
    body_limits: dict[str, BodyLimit] = field(default_factory=dict)
    #: the largest body any operation takes; beyond it the edge refuses without routing
    default_body_limit: BodyLimit | None = None
    #: the service's own validation for some model shapes (see protocol.validate)
    shape_checks: dict[str, ShapeCheck] = field(default_factory=dict)
    #: what a model constraint failure is answered with (CloudWatch Logs: InvalidParameterException)
    validation_error: type[EmberError] = ValidationException
    #: what each operation acts on, for the policy check; None: every action on "*"
    targets: Targets | None = None
    protocol: Protocol = field(init=False)

    def __post_init__(self) -> None:
        self.protocol = protocol_for(self.model, self.shape_checks, self.validation_error)

    @property
    def signing_name(self) -> str:
        return str(self.model.signing_name or self.model.endpoint_prefix)


@functools.cache
def load_model(service_name: str) -> ServiceModel:
    """The botocore service model for `service_name` (e.g. "lambda")."""
    session = botocore.session.get_session()
    return session.get_service_model(service_name)
