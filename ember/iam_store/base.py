"""The IamStore contract: the account's identities (users, groups, roles), their access keys, and
the policies that say what they may do. Durable once a method returns.

Names of users, groups, roles and managed policies are unique regardless of case, as in IAM
("Alice" and "alice" are the same user), and lists come back ordered by name. Refusals that
IAM words a particular way (a name taken, a delete that would leave something dangling, a
quota) are raised here, inside the same transaction as the write they refuse, so two
concurrent requests can never both pass a check.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum

#: IAM's quotas that the store enforces atomically
MAX_ACCESS_KEYS_PER_USER = 2
MAX_POLICY_VERSIONS = 5


class OwnerKind(StrEnum):
    """What an inline or attached policy belongs to."""

    USER = "user"
    GROUP = "group"
    ROLE = "role"


@dataclass(frozen=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True)
class User:
    name: str
    user_id: str  #: AIDA…, never reused
    path: str
    arn: str
    created_at: str  #: ISO 8601, UTC
    tags: tuple[Tag, ...] = ()


@dataclass(frozen=True)
class Group:
    name: str
    group_id: str  #: AGPA…
    path: str
    arn: str
    created_at: str


@dataclass(frozen=True)
class Role:
    name: str
    role_id: str  #: AROA…
    path: str
    arn: str
    created_at: str
    #: who may assume the role (a resource-based policy document, JSON text as given)
    trust_policy: str
    description: str = ""
    max_session_duration_s: int = 3600
    tags: tuple[Tag, ...] = ()


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str  #: AKIA…
    secret_access_key: str
    user_name: str
    status: str  #: "Active" or "Inactive"
    created_at: str


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    policy_id: str  #: ANPA…
    path: str
    arn: str
    default_version_id: str  #: "v1", "v2"…
    created_at: str
    updated_at: str
    description: str = ""
    attachment_count: int = 0  #: filled in by reads; ignored on writes


@dataclass(frozen=True)
class PolicyVersion:
    version_id: str
    document: str  #: JSON text as given
    created_at: str
    is_default: bool = False  #: filled in by reads


class IamStore(ABC):
    """Durable identities and policies of one account."""

    @property
    @abstractmethod
    def generation(self) -> int:
        """A number that grows with every write made through this store, refused ones included:
        what a cache of the store's contents compares to know it is still current."""

    # Users, groups and roles ------------------------------------------------------------

    @abstractmethod
    async def create_user(self, user: User) -> None:
        """Insert `user`; EntityAlreadyExistsException if the name is taken."""

    @abstractmethod
    async def get_user(self, name: str) -> User | None:
        """The user called `name` (any case), or None."""

    @abstractmethod
    async def list_users(self, path_prefix: str, after_name: str | None, limit: int) -> list[User]:
        """Up to `limit` users whose path starts with `path_prefix`, by name, after `after_name`."""

    @abstractmethod
    async def delete_user(self, name: str) -> bool:
        """Remove the user; False if there was none. DeleteConflictException while it still has
        access keys, inline or attached policies, or belongs to a group (IAM deletes nothing
        along with a user)."""

    @abstractmethod
    async def create_group(self, group: Group) -> None:
        """Insert `group`; EntityAlreadyExistsException if the name is taken."""

    @abstractmethod
    async def get_group(self, name: str) -> Group | None:
        """The group called `name` (any case), or None."""

    @abstractmethod
    async def list_groups(self, path_prefix: str, after_name: str | None, limit: int) -> list[Group]:
        """Up to `limit` groups whose path starts with `path_prefix`, by name, after `after_name`."""

    @abstractmethod
    async def delete_group(self, name: str) -> bool:
        """Remove the group; False if there was none. DeleteConflictException while it has
        members or inline or attached policies."""

    @abstractmethod
    async def create_role(self, role: Role) -> None:
        """Insert `role`; EntityAlreadyExistsException if the name is taken."""

    @abstractmethod
    async def get_role(self, name: str) -> Role | None:
        """The role called `name` (any case), or None."""

    @abstractmethod
    async def list_roles(self, path_prefix: str, after_name: str | None, limit: int) -> list[Role]:
        """Up to `limit` roles whose path starts with `path_prefix`, by name, after `after_name`."""

    @abstractmethod
    async def replace_role(self, role: Role) -> bool:
        """Store `role` over the one of the same name (its trust policy, description, session
        duration, tags); False if there is none."""

    @abstractmethod
    async def delete_role(self, name: str) -> bool:
        """Remove the role; False if there was none. DeleteConflictException while it has inline
        or attached policies."""

    # Access keys --------------------------------------------------------------------------

    @abstractmethod
    async def create_access_key(self, key: AccessKey) -> None:
        """Insert `key` for its user; NoSuchEntityException if the user is gone,
        LimitExceededException past MAX_ACCESS_KEYS_PER_USER."""

    @abstractmethod
    async def get_access_key(self, access_key_id: str) -> AccessKey | None:
        """The key with this id (whoever owns it), or None. Read on every signed request."""

    @abstractmethod
    async def list_access_keys(self, user_name: str) -> list[AccessKey]:
        """The user's keys, oldest first."""

    @abstractmethod
    async def set_access_key_status(self, user_name: str, access_key_id: str, status: str) -> bool:
        """Make the user's key Active or Inactive; False if the user has no such key."""

    @abstractmethod
    async def delete_access_key(self, user_name: str, access_key_id: str) -> bool:
        """Remove the user's key; False if the user has no such key."""

    # Group membership ---------------------------------------------------------------------

    @abstractmethod
    async def add_user_to_group(self, group_name: str, user_name: str) -> None:
        """Make the user a member (again: no change); NoSuchEntityException if either is gone."""

    @abstractmethod
    async def remove_user_from_group(self, group_name: str, user_name: str) -> bool:
        """False if the user was not a member."""

    @abstractmethod
    async def groups_of_user(self, user_name: str) -> list[Group]:
        """The groups the user belongs to, by name."""

    @abstractmethod
    async def users_of_group(self, group_name: str) -> list[User]:
        """The group's members, by name."""

    # Inline policies ----------------------------------------------------------------------

    @abstractmethod
    async def put_inline_policy(self, kind: OwnerKind, owner: str, policy_name: str, document: str) -> None:
        """Add or replace the owner's inline policy; NoSuchEntityException if the owner is gone."""

    @abstractmethod
    async def get_inline_policy(self, kind: OwnerKind, owner: str, policy_name: str) -> str | None:
        """The inline policy's document, or None."""

    @abstractmethod
    async def list_inline_policies(self, kind: OwnerKind, owner: str) -> list[str]:
        """The names of the owner's inline policies, sorted."""

    @abstractmethod
    async def delete_inline_policy(self, kind: OwnerKind, owner: str, policy_name: str) -> bool:
        """False if the owner has no such policy."""

    # Managed policies ---------------------------------------------------------------------

    @abstractmethod
    async def create_managed_policy(self, policy: ManagedPolicy, first_version: PolicyVersion) -> None:
        """Insert the policy with its first (default) version; EntityAlreadyExistsException if a
        policy of that name exists."""

    @abstractmethod
    async def get_managed_policy(self, arn: str) -> ManagedPolicy | None:
        """The policy with this ARN, its attachment count filled in, or None."""

    @abstractmethod
    async def list_managed_policies(self, path_prefix: str, only_attached: bool, after_name: str | None,
                                    limit: int) -> list[ManagedPolicy]:
        """Up to `limit` policies by name after `after_name` (only attached ones if asked)."""

    @abstractmethod
    async def delete_managed_policy(self, arn: str) -> bool:
        """Remove the policy; False if there was none. DeleteConflictException while it is
        attached or has versions besides its default."""

    @abstractmethod
    async def add_policy_version(self, arn: str, version: PolicyVersion, set_as_default: bool) -> str:
        """Add a version numbered one past the highest it ever had (numbers are never reused) and
        return its id; the given `version_id` is ignored. NoSuchEntityException if the policy is
        gone, LimitExceededException when it already has MAX_POLICY_VERSIONS."""

    @abstractmethod
    async def get_policy_version(self, arn: str, version_id: str) -> PolicyVersion | None:
        """One version (with is_default), or None."""

    @abstractmethod
    async def list_policy_versions(self, arn: str) -> list[PolicyVersion]:
        """Every version, newest first."""

    @abstractmethod
    async def set_default_policy_version(self, arn: str, version_id: str) -> bool:
        """Make the version the default; False if the policy has no such version."""

    @abstractmethod
    async def delete_policy_version(self, arn: str, version_id: str) -> bool:
        """False if there is no such version; DeleteConflictException for the default one."""

    # Attachments --------------------------------------------------------------------------

    @abstractmethod
    async def attach_policy(self, kind: OwnerKind, owner: str, arn: str) -> None:
        """Attach the managed policy (again: no change); NoSuchEntityException if the owner or
        the policy is gone."""

    @abstractmethod
    async def detach_policy(self, kind: OwnerKind, owner: str, arn: str) -> bool:
        """False if it was not attached."""

    @abstractmethod
    async def attached_policies(self, kind: OwnerKind, owner: str) -> list[ManagedPolicy]:
        """The managed policies attached to the owner, by name."""

    @abstractmethod
    async def policy_attachments(self, arn: str) -> list[tuple[OwnerKind, str]]:
        """Who the policy is attached to, by kind then name."""

    @abstractmethod
    async def close(self) -> None:
        """Finish pending work and release the backend."""
