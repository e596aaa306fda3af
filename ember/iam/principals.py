"""Who makes a request (`Caller`), and the `Principal`/`NotPrincipal` element that names callers in
a resource-based policy (`PrincipalSet`).

A caller is several identities at once (IAM User Guide, "Principal"): a role session is its
session, its role and its account; an IAM user is the user and its account. A `Principal` element
matches a caller when it names any of them:
- `"*"` or `{"AWS": "*"}`: everyone, anonymous callers included;
- an account (`"123456789012"` or `arn:aws:iam::123456789012:root`): every principal of that
  account. Naming the account delegates to it: its principals still need an identity-based
  policy that allows, even within the same account (`PrincipalMatch.ACCOUNT`);
- a role ARN (`arn:aws:iam::123456789012:role/path/Name`): every session of that role, by the
  role's name (unique within its account, whatever its path);
- a user, session (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`) or federated user ARN:
  that one principal, compared exactly;
- `{"Service": "s3.amazonaws.com"}`: that service; `{"Federated": ...}`: that identity provider.
A wildcard inside a principal ARN is refused: "You cannot use a wildcard to match part of a
principal name or ARN".

`NotPrincipal` excludes a caller only when it lists every one of the caller's identities (a Deny
with `NotPrincipal` naming a user but not its account still denies that user).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from ember.errors import MalformedPolicyDocumentException

_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):(?P<resource>.+)$")
_STS_ARN = re.compile(r"^arn:aws[a-z-]*:sts::(?P<account>\d{12}):(?P<resource>.+)$")
_SESSION = re.compile(r"^assumed-role/(?P<role>[^/]+)/(?P<session>.+)$")
#: unique ids IAM gives users (AIDA...), roles (AROA...) and the like; a policy shows one for a
#: principal that was deleted after the policy named it
_UNIQUE_ID = re.compile(r"^A[A-Z0-9]{15,127}$")
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.(?:amazonaws\.com|amazonaws\.com\.cn|amazon\.com)$")

#: a caller identity or a principal a policy names, as a hashable key
Identity = tuple[str, ...]


class PrincipalType(StrEnum):
    """`aws:PrincipalType`: what kind of principal a caller is."""

    #: the account's root user
    ACCOUNT = "Account"
    #: an IAM user
    USER = "User"
    #: a session of an assumed role
    ASSUMED_ROLE = "AssumedRole"
    #: a GetFederationToken session
    FEDERATED_USER = "FederatedUser"
    #: a user of a web identity provider, assuming a role
    WEB_IDENTITY = "WebIdentityUser"
    #: an AWS service acting for a resource (an S3 bucket invoking a function)
    SERVICE = "Service"
    #: an unsigned request
    ANONYMOUS = "Anonymous"


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal a request is from. Made by `from_arn`, `service`, `web_identity` or `anonymous`,
    which work out the identities a `Principal` element can name it by."""

    #: the caller as AWS names it in an access denied message ("anonymous" for no one)
    arn: str
    type: PrincipalType
    #: the account the caller is in; None for a service or an anonymous caller
    account_id: str | None = None
    #: `aws:userid`: AIDA... for a user, AROA...:session for a role session
    user_id: str | None = None
    #: for a role session: the role's ARN, path included (`aws:PrincipalArn`)
    role_arn: str | None = None
    identities: frozenset[Identity] = field(default=frozenset(), compare=False)

    @classmethod
    def from_arn(cls, arn: str, *, user_id: str | None = None, role_arn: str | None = None) -> Caller:
        """The caller an ARN names: an account root, an IAM user, a role session, a federated user."""
        if (match := _IAM_ARN.match(arn)) is not None:
            account, resource = match["account"], match["resource"]
            if resource == "root":
                return cls._make(arn, PrincipalType.ACCOUNT, account, user_id)
            if resource.startswith("user/"):
                return cls._make(arn, PrincipalType.USER, account, user_id, ("user", arn))
        elif (match := _STS_ARN.match(arn)) is not None:
            account, resource = match["account"], match["resource"]
            if (session := _SESSION.match(resource)) is not None:
                role = role_arn or f"arn:aws:iam::{account}:role/{session['role']}"
                return cls._make(arn, PrincipalType.ASSUMED_ROLE, account, user_id, ("session", arn),
                                 ("role", account, session["role"]), role_arn=role)
            if resource.startswith("federated-user/"):
                return cls._make(arn, PrincipalType.FEDERATED_USER, account, user_id, ("federated-user", arn))
        raise ValueError(f"not the ARN of a principal: {arn!r}")

    @classmethod
    def service(cls, name: str) -> Caller:
        """An AWS service principal, such as `s3.amazonaws.com`."""
        return cls(name, PrincipalType.SERVICE, identities=frozenset({("service", name.lower())}))

    @classmethod
    def web_identity(cls, provider: str) -> Caller:
        """A user of a web identity or SAML provider (`Federated` in a trust policy)."""
        return cls(provider, PrincipalType.WEB_IDENTITY, identities=frozenset({("federated", provider)}))

    @classmethod
    def anonymous(cls) -> Caller:
        return cls("anonymous", PrincipalType.ANONYMOUS, identities=frozenset({("anonymous",)}))

    @classmethod
    def _make(cls, arn: str, type_: PrincipalType, account: str, user_id: str | None, *extra: Identity,
              role_arn: str | None = None) -> Caller:
        identities: set[Identity] = {("account", account), *extra}
        if user_id:
            identities.add(("userid", user_id.split(":", 1)[0]))
        return cls(arn, type_, account, user_id, role_arn, frozenset(identities))

    @property
    def principal_arn(self) -> str:
        """`aws:PrincipalArn`: the role's ARN for a role session, else the caller's own."""
        return self.role_arn or self.arn

    @property
    def username(self) -> str | None:
        """`aws:username`: an IAM user's friendly name (only IAM users have one)."""
        return self.arn.rsplit("/", 1)[-1] if self.type is PrincipalType.USER else None


class PrincipalMatch(Enum):
    """How a `Principal` element names a caller."""

    #: not at all
    NONE = 0
    #: only through the caller's account: the account's own policies must allow too
    ACCOUNT = 1
    #: the caller itself (its user, role, session, service) or everyone
    DIRECT = 2


@dataclass(frozen=True, slots=True)
class PrincipalSet:
    """A parsed `Principal` or `NotPrincipal` element."""

    is_wildcard: bool
    identities: frozenset[Identity]

    def match(self, caller: Caller) -> PrincipalMatch:
        if self.is_wildcard:
            return PrincipalMatch.DIRECT
        named = self.identities & caller.identities
        if not named:
            return PrincipalMatch.NONE
        if all(identity[0] == "account" for identity in named):
            return PrincipalMatch.ACCOUNT
        return PrincipalMatch.DIRECT

    def excludes(self, caller: Caller) -> bool:
        """As a `NotPrincipal`: does it list the caller (every one of its identities)? A unique id
        (AIDA..., AROA...) is another name for the user or role: it stands for all but the account."""
        if self.is_wildcard:
            return True
        named = {identity for identity in caller.identities if identity[0] != "userid"}
        if any(identity[0] == "userid" and identity in self.identities for identity in caller.identities):
            named = {identity for identity in named if identity[0] == "account"}
        return named <= self.identities


def parse_principal(value: object) -> PrincipalSet:
    """Parse a `Principal`/`NotPrincipal` element, refusing what IAM refuses."""
    if value == "*":
        return PrincipalSet(True, frozenset())
    if not isinstance(value, dict) or not value:
        raise MalformedPolicyDocumentException("Syntax errors in policy.")
    is_wildcard = False
    identities: set[Identity] = set()
    for key, entries in value.items():
        for entry in _strings(entries):
            if key == "AWS" and entry == "*":
                is_wildcard = True
                continue
            identity = _identity(key, entry)
            if identity is None:
                raise MalformedPolicyDocumentException(f'Invalid principal in policy: "{key.upper()}":"{entry}"')
            identities.add(identity)
    return PrincipalSet(is_wildcard, frozenset(identities))


def _strings(entries: object) -> list[str]:
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, list) and entries and all(isinstance(entry, str) for entry in entries):
        return entries
    raise MalformedPolicyDocumentException("Syntax errors in policy.")


def _identity(key: str, entry: str) -> Identity | None:
    if key == "AWS":
        return _aws_identity(entry)
    if key == "Service":
        return ("service", entry.lower()) if _SERVICE.match(entry) else None
    if key == "Federated":
        return ("federated", entry) if entry and not any(char.isspace() for char in entry) else None
    if key == "CanonicalUser":
        # an S3 canonical user: accepted in a bucket policy, never a caller here
        return ("canonical", entry) if entry else None
    return None


def _aws_identity(entry: str) -> Identity | None:
    if "*" in entry:
        return None
    if _ACCOUNT.match(entry):
        return ("account", entry)
    if _UNIQUE_ID.match(entry):
        return ("userid", entry)
    if (match := _IAM_ARN.match(entry)) is not None:
        resource = match["resource"]
        if resource == "root":
            return ("account", match["account"])
        if resource.startswith("user/") and len(resource) > len("user/"):
            return ("user", entry)
        if resource.startswith("role/") and not resource.endswith("/"):
            return ("role", match["account"], resource.rsplit("/", 1)[-1])
        return None
    if (match := _STS_ARN.match(entry)) is not None:
        resource = match["resource"]
        if _SESSION.match(resource):
            return ("session", entry)
        if resource.startswith("federated-user/") and len(resource) > len("federated-user/"):
            return ("federated-user", entry)
    return None
