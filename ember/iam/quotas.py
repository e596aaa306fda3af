"""Policy size quotas, counted as IAM counts them: characters, white space not counted.

IAM User Guide, "IAM and AWS STS quotas": a managed policy holds 6,144 characters; the inline
policies of one user together 2,048, of a role 10,240, of a group 5,120; a role's trust policy
2,048. Over a quota IAM answers `LimitExceeded` (409), in words that differ by quota:

    Cannot exceed quota for PolicySize: 6144                 CreatePolicy, CreatePolicyVersion
    Maximum policy size of 10240 bytes exceeded for role R   Put{User,Role,Group}Policy
    Cannot exceed quota for ACLSizePerRole: 2048             CreateRole, UpdateAssumeRolePolicy
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from ember.errors import LimitExceededException

#: IAM User Guide quotas, in non-white-space characters
MANAGED_POLICY_CHARS = 6144
TRUST_POLICY_CHARS = 2048


class InlineOwner(StrEnum):
    """What an inline policy is embedded in; its value is the word IAM's message uses."""

    USER = "user"
    ROLE = "role"
    GROUP = "group"


#: the aggregate size of one identity's inline policies
INLINE_POLICY_CHARS = {InlineOwner.USER: 2048, InlineOwner.ROLE: 10240, InlineOwner.GROUP: 5120}


def policy_size(text: str) -> int:
    """A document's size as IAM counts it: its characters less white space."""
    return sum(1 for char in text if not char.isspace())


def check_managed_policy_size(text: str) -> None:
    if policy_size(text) > MANAGED_POLICY_CHARS:
        raise LimitExceededException(f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_CHARS}")


def check_trust_policy_size(text: str) -> None:
    if policy_size(text) > TRUST_POLICY_CHARS:
        raise LimitExceededException(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_CHARS}")


def check_inline_policies_size(owner: InlineOwner, owner_name: str, documents: Iterable[str]) -> None:
    """Check every inline policy of one user, role or group together, as they would be once stored
    (the new document in place of any it replaces)."""
    limit = INLINE_POLICY_CHARS[owner]
    if sum(policy_size(text) for text in documents) > limit:
        raise LimitExceededException(f"Maximum policy size of {limit} bytes exceeded for {owner.value} {owner_name}")
