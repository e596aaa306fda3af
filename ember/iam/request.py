"""What a request asks to do, as policies see it: who, which action, on which resource, and the
context keys conditions and policy variables read.

`AuthorizationRequest.build` fills in the global keys AWS puts in every request's context from
what the caller hands it (IAM User Guide, "AWS global condition context keys"): `aws:CurrentTime`
and `aws:EpochTime` from an injected `Clock` or a given time (never read here),
`aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:PrincipalIsAWSService`,
`aws:PrincipalServiceName` (services only), `aws:userid`, `aws:username` (IAM users only),
`aws:RequestedRegion`, `aws:SecureTransport`, `aws:SourceIp`, `aws:SourceArn`, `aws:SourceAccount`;
service keys (`lambda:FunctionArn`, `s3:prefix`...) come in `keys`. Key names are
case-insensitive: the context holds them lower-cased.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ember.clock import Clock
from ember.iam.dates import format_date
from ember.iam.principals import Caller, PrincipalType
from ember.iam.wildcards import split_arn

#: a context key's value: one string, or several for a multivalued key (`aws:TagKeys`); booleans
#: become "true"/"false"
ContextValue = str | bool | int | Sequence[str]


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    caller: Caller
    #: `service:Action`, as IAM names it (`lambda:InvokeFunction`)
    action: str
    #: the resource's ARN; None for an action on no particular resource (matched as "*")
    resource: str | None
    #: lower-cased context key → its values
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: the account owning the resource; by default the ARN's, else the caller's own
    resource_account: str | None = None

    @classmethod
    def build(cls, caller: Caller, action: str, resource: str | None = None, *,
              clock: Clock | None = None, now_s: float | None = None,
              region: str | None = None, source_ip: str | None = None, secure_transport: bool | None = None,
              source_arn: str | None = None, source_account: str | None = None,
              resource_account: str | None = None,
              keys: Mapping[str, ContextValue] | None = None) -> AuthorizationRequest:
        """A request with the global context keys filled in. The time comes from `clock` or `now_s`
        (exactly one of them)."""
        if (clock is None) == (now_s is None):
            raise ValueError("give the request's time: a clock or now_s, not both")
        epoch_s = clock.time_s() if clock is not None else now_s
        assert epoch_s is not None
        context: dict[str, tuple[str, ...]] = {}

        def put(key: str, value: ContextValue | None) -> None:
            if value is not None:
                context[key.lower()] = _values(value)

        put("aws:CurrentTime", format_date(epoch_s))
        put("aws:EpochTime", str(int(epoch_s)))
        put("aws:PrincipalType", caller.type.value)
        if caller.account_id is not None:
            put("aws:PrincipalArn", caller.principal_arn)
            put("aws:PrincipalAccount", caller.account_id)
        if caller.type is PrincipalType.SERVICE:
            put("aws:PrincipalServiceName", caller.arn)
        put("aws:PrincipalIsAWSService", caller.type is PrincipalType.SERVICE)
        put("aws:userid", caller.user_id)
        put("aws:username", caller.username)
        put("aws:RequestedRegion", region)
        put("aws:SourceIp", source_ip)
        put("aws:SecureTransport", secure_transport)
        put("aws:SourceArn", source_arn)
        put("aws:SourceAccount", source_account)
        for key, value in (keys or {}).items():
            put(key, value)
        return cls(caller, action, resource, context, resource_account)

    @property
    def resource_text(self) -> str:
        """The resource as policies match it: its ARN, or "*"."""
        return self.resource if self.resource is not None else "*"

    @property
    def owner_account(self) -> str | None:
        """The account whose resource this is: as given, else the ARN's, else the caller's."""
        if self.resource_account is not None:
            return self.resource_account
        if self.resource is not None:
            parts = split_arn(self.resource)
            if len(parts) == 6 and parts[4]:
                return parts[4]
        return self.caller.account_id

    def lookup(self, key: str) -> str | None:
        """A single-valued key's value, for a policy variable (`key` lower-cased)."""
        values = self.context.get(key)
        return values[0] if values is not None and len(values) == 1 else None


def _values(value: ContextValue) -> tuple[str, ...]:
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, int):
        return (str(value),)
    if isinstance(value, str):
        return (value,)
    return tuple(value)
