"""IAM's users, groups, roles and access keys."""

from __future__ import annotations

import datetime as dt
import secrets
import string
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ember.clock import Clock
from ember.errors import NoSuchEntityException, ValidationError
from ember.iam.access_keys import AccessKey as NewAccessKey
from ember.iam.policy_document import PolicyKind, parse_policy
from ember.iam.quotas import check_trust_policy_size
from ember.iam_store.base import AccessKey, Group, IamStore, Role, Tag, User
from ember.services.base import CallerKind, RequestContext
from ember.services.iam import wire

_ID_ALPHABET = string.ascii_uppercase + string.digits


def unique_id(prefix: str) -> str:
    """An IAM unique id: a four-letter prefix saying what it names (AIDA user, AGPA group, AROA
    role, ANPA policy) and 17 random characters."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def iso_now(clock: Clock) -> str:
    return dt.datetime.fromtimestamp(clock.time_s(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_trust_policy(text: str) -> None:
    """A role's trust policy as IAM checks it: its grammar (a Principal in every statement, only
    sts actions), then its size."""
    parse_policy(text, PolicyKind.TRUST)
    check_trust_policy_size(text)


def _tags(params: dict[str, Any]) -> tuple[Tag, ...]:
    return tuple(Tag(tag["Key"], tag["Value"]) for tag in params.get("Tags", []))


class IdentityOperations:
    """CreateUser … DeleteAccessKey: bound by name to the IAM model's operations."""

    def __init__(self, store: IamStore, clock: Clock, new_access_key: Callable[[], NewAccessKey]) -> None:
        self.store = store
        self.clock = clock
        #: makes a new long-term (AKIA) key
        self.new_access_key = new_access_key

    async def _user(self, name: str) -> User:
        if (found := await self.store.get_user(name)) is None:
            raise wire.no_such_entity("user", name)
        return found

    async def _group(self, name: str) -> Group:
        if (found := await self.store.get_group(name)) is None:
            raise wire.no_such_entity("group", name)
        return found

    async def _role(self, name: str) -> Role:
        if (found := await self.store.get_role(name)) is None:
            raise wire.no_such_entity("role", name)
        return found

    # Users --------------------------------------------------------------------------------

    async def create_user(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        path = p.get("Path", "/")
        arn = f"arn:aws:iam::{ctx.account_id}:user{path}{p['UserName']}"
        created = User(p["UserName"], unique_id("AIDA"), path, arn, iso_now(self.clock), _tags(p))
        await self.store.create_user(created)
        return {"User": wire.user(created)}

    async def get_user(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        caller = ctx.caller
        if "UserName" not in p and caller is not None and caller.kind is CallerKind.ROOT:
            # The root user, as AWS describes it to itself.
            return {"User": {"UserId": caller.account_id, "Arn": caller.arn, "CreateDate": iso_now(self.clock)}}
        return {"User": wire.user(await self._user(self._user_name(ctx, p)))}

    async def list_users(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await wire.listing(self.store.list_users, p, "Users", wire.user, lambda u: u.name)

    async def delete_user(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if not await self.store.delete_user(p["UserName"]):
            raise wire.no_such_entity("user", p["UserName"])
        return {}

    # Groups -------------------------------------------------------------------------------

    async def create_group(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        path = p.get("Path", "/")
        created = Group(p["GroupName"], unique_id("AGPA"), path,
                        f"arn:aws:iam::{ctx.account_id}:group{path}{p['GroupName']}", iso_now(self.clock))
        await self.store.create_group(created)
        return {"Group": wire.group(created)}

    async def get_group(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        found = await self._group(p["GroupName"])
        members = await self.store.users_of_group(found.name)
        after = wire.after_marker(p.get("Marker"))
        remaining = [u for u in members if after is None or u.name.lower() > after.lower()]
        users = wire.page(remaining, wire.max_items(p), lambda u: u.name, "Users", wire.user)
        return {"Group": wire.group(found), **users}

    async def list_groups(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await wire.listing(self.store.list_groups, p, "Groups", wire.group, lambda g: g.name)

    async def delete_group(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if not await self.store.delete_group(p["GroupName"]):
            raise wire.no_such_entity("group", p["GroupName"])
        return {}

    async def add_user_to_group(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self.store.add_user_to_group(p["GroupName"], p["UserName"])
        return {}

    async def remove_user_from_group(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self._group(p["GroupName"])
        await self._user(p["UserName"])
        await self.store.remove_user_from_group(p["GroupName"], p["UserName"])
        return {}

    async def list_groups_for_user(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        groups = await self.store.groups_of_user((await self._user(p["UserName"])).name)
        return wire.page_by_position(groups, p, "Groups", wire.group)

    # Roles --------------------------------------------------------------------------------

    async def create_role(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        _check_trust_policy(p["AssumeRolePolicyDocument"])
        path = p.get("Path", "/")
        arn = f"arn:aws:iam::{ctx.account_id}:role{path}{p['RoleName']}"
        created = Role(p["RoleName"], unique_id("AROA"), path, arn, iso_now(self.clock), p["AssumeRolePolicyDocument"],
                       p.get("Description", ""), int(p.get("MaxSessionDuration", 3600)), _tags(p))
        await self.store.create_role(created)
        return {"Role": wire.role(created)}

    async def get_role(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return {"Role": wire.role(await self._role(p["RoleName"]))}

    async def list_roles(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await wire.listing(self.store.list_roles, p, "Roles", wire.role, lambda r: r.name)

    async def update_assume_role_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        _check_trust_policy(p["PolicyDocument"])
        current = await self._role(p["RoleName"])
        if not await self.store.replace_role(replace(current, trust_policy=p["PolicyDocument"])):
            raise wire.no_such_entity("role", p["RoleName"])
        return {}

    async def delete_role(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if not await self.store.delete_role(p["RoleName"]):
            raise wire.no_such_entity("role", p["RoleName"])
        return {}

    # Access keys --------------------------------------------------------------------------

    async def create_access_key(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        owner = await self._user(self._user_name(ctx, p))
        made = self.new_access_key()
        secret = made.secret_access_key
        key = AccessKey(made.access_key_id, secret, owner.name, "Active", iso_now(self.clock))
        await self.store.create_access_key(key)
        return {"AccessKey": {**wire.access_key_metadata(key), "SecretAccessKey": secret}}

    async def list_access_keys(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        owner = await self._user(self._user_name(ctx, p))
        keys = await self.store.list_access_keys(owner.name)
        return wire.page_by_position(keys, p, "AccessKeyMetadata",
                                     wire.access_key_metadata)

    async def update_access_key(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        owner = await self._user(self._user_name(ctx, p))
        if not await self.store.set_access_key_status(owner.name, p["AccessKeyId"], p["Status"]):
            raise NoSuchEntityException(f"The Access Key with id {p['AccessKeyId']} cannot be found.")
        return {}

    async def delete_access_key(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        owner = await self._user(self._user_name(ctx, p))
        if not await self.store.delete_access_key(owner.name, p["AccessKeyId"]):
            raise NoSuchEntityException(f"The Access Key with id {p['AccessKeyId']} cannot be found.")
        return {}

    @staticmethod
    def _user_name(ctx: RequestContext, p: dict[str, Any]) -> str:
        """The UserName given; without one, IAM means the caller's own user."""
        name = p.get("UserName")
        if name is not None:
            return str(name)
        caller = ctx.caller
        if caller is not None and caller.kind in (CallerKind.USER, CallerKind.USER_SESSION):
            return caller.name
        raise ValidationError("Must specify userName when calling with non-User credentials")
