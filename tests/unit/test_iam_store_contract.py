"""The IamStore contract (ember/iam_store/base.py), run against every backend in IAM_STORES.

Each scenario opens the backend afresh on temporary storage; `reopen` opens it again on the
same storage, as a restarted server would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ember.errors import (
    DeleteConflictException,
    EntityAlreadyExistsException,
    LimitExceededException,
    NoSuchEntityException,
)
from ember.iam_store import IAM_STORES, open_iam_store
from ember.iam_store.base import (
    MAX_POLICY_VERSIONS,
    AccessKey,
    Group,
    IamStore,
    ManagedPolicy,
    OwnerKind,
    PolicyVersion,
    Role,
    Tag,
    User,
)
from tests.unit.contract import scenario_runner

#: how to open each backend on a test's temporary folder
BACKEND_OPTIONS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "sqlite": lambda tmp_path: {"path": tmp_path / "iam.db"},
}

ACCOUNT = "123456789012"
CREATED = "2026-01-01T00:00:00Z"
TRUST = '{"Version": "2012-10-17", "Statement": []}'


def test_every_registered_iam_store_runs_the_contract() -> None:
    assert set(BACKEND_OPTIONS) == set(IAM_STORES)


@pytest.fixture(params=sorted(IAM_STORES))
def run(request: pytest.FixtureRequest, tmp_path: Path):
    return scenario_runner(open_iam_store, request.param, BACKEND_OPTIONS[request.param](tmp_path))


def user(name: str, path: str = "/") -> User:
    return User(name, f"AIDA{name.upper():0<16}"[:20], path, f"arn:aws:iam::{ACCOUNT}:user{path}{name}", CREATED,
                (Tag("team", "a"),))


def group(name: str, path: str = "/") -> Group:
    return Group(name, f"AGPA{name.upper():0<16}"[:20], path, f"arn:aws:iam::{ACCOUNT}:group{path}{name}", CREATED)


def role(name: str, path: str = "/") -> Role:
    return Role(name, f"AROA{name.upper():0<16}"[:20], path, f"arn:aws:iam::{ACCOUNT}:role{path}{name}", CREATED,
                TRUST, "a role", 7200, (Tag("env", "dev"),))


def key(key_id: str, user_name: str, created_at: str = CREATED) -> AccessKey:
    return AccessKey(key_id, "secret-" + key_id, user_name, "Active", created_at)


def policy(name: str, path: str = "/") -> ManagedPolicy:
    return ManagedPolicy(name, f"ANPA{name.upper():0<16}"[:20], path, f"arn:aws:iam::{ACCOUNT}:policy{path}{name}",
                         "v1", CREATED, CREATED, "what it allows")


def document(action: str) -> str:
    return f'{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "{action}", "Resource": "*"}}]}}'


class TestIdentities:
    def test_users_groups_and_roles_round_trip_and_survive_a_restart(self, run) -> None:
        async def scenario(store: IamStore, reopen) -> None:
            await store.create_user(user("alice"))
            await store.create_group(group("admins"))
            await store.create_role(role("deployer"))
            await store.close()
            store = reopen()
            assert await store.get_user("alice") == user("alice")
            assert await store.get_group("admins") == group("admins")
            assert await store.get_role("deployer") == role("deployer")
            assert await store.get_user("bob") is None
            assert await store.get_group("bob") is None
            assert await store.get_role("bob") is None

        run(scenario)

    def test_names_are_unique_and_found_regardless_of_case(self, run) -> None:
        async def scenario(store: IamStore, reopen) -> None:
            await store.create_user(user("Alice"))
            with pytest.raises(EntityAlreadyExistsException, match="User with name alice already exists."):
                await store.create_user(user("alice"))
            assert (await store.get_user("ALICE")) == user("Alice")
            await store.create_role(role("Deployer"))
            with pytest.raises(EntityAlreadyExistsException, match="Role with name deployer already exists."):
                await store.create_role(role("deployer"))
            await store.create_group(group("Admins"))
            with pytest.raises(EntityAlreadyExistsException, match="Group with name ADMINS already exists."):
                await store.create_group(group("ADMINS"))

        run(scenario)

    def test_lists_page_by_name_within_a_path_prefix(self, run) -> None:
        async def scenario(store: IamStore, reopen) -> None:
            for name, path in [("carol", "/eng/"), ("alice", "/eng/"), ("bob", "/ops/"), ("dave", "/eng/web/")]:
                await store.create_user(user(name, path))
                await store.create_role(role(name, path))
                await store.create_group(group(name, path))
            assert [u.name for u in await store.list_users("/", None, 10)] == ["alice", "bob", "carol", "dave"]
            assert [u.name for u in await store.list_users("/eng/", None, 10)] == ["alice", "carol", "dave"]
            assert [u.name for u in await store.list_users("/eng/", "alice", 1)] == ["carol"]
            assert [r.name for r in await store.list_roles("/ops/", None, 10)] == ["bob"]
            assert [g.name for g in await store.list_groups("/", "carol", 10)] == ["dave"]

        run(scenario)

    def test_replace_role_changes_only_an_existing_role(self, run) -> None:
        async def scenario(store: IamStore, reopen) -> None:
            await store.create_role(role("deployer"))
            changed = Role(**{**role("deployer").__dict__, "trust_policy": "{}", "max_session_duration_s": 3600})
            assert await store.replace_role(changed)
            assert await store.get_role("deployer") == changed
            assert not await store.replace_role(role("nobody"))

        run(scenario)

    def test_a_delete_that_would_leave_something_behind_is_refused(self, run) -> None:
        async def scenario(store: IamStore, reopen) -> None:
            await store.create_user(user("alice"))
            await store.create_group(group("admins"))
            await store.create_role(role("deployer"))
            await store.create_access_key(key("AKIAAAAAAAAAAAAAAAA1", "alice"))
            with pytest.raises(DeleteConflictException, match="must delete access keys first"):
                await store.delete_user("alice")
            await store.delete_access_key("alice", "AKIAAAAAAAAAAAAAAAA1")
            await store.add_user_to_group("admins", "alice")
            with pytest.raises(DeleteConflictException, match="must remove users from group first"):
                await store.delete_user("alice")
            with pytest.raises(DeleteConflictException, match="must remove users from group first"):
                await store.delete_group("admins")
            await store.remove_user_from_group("admins", "alice")
            for kind, owner in [(OwnerKind.USER, "alice"), (OwnerKind.GROUP, "admins"), (OwnerKind.ROLE, "deployer")]:
                await store.put_inline_policy(kind, owner, "inline", document("s3:*"))
            with pytest.raises(DeleteConflictException, match="must delete policies first"):
                await store.delete_role("deployer")
            with pytest.raises(DeleteConflictException, match="must delete policies first"):
                await store.delete_group("admins")
            await store.create_managed_policy(policy("readers"), PolicyVersion("v1", document("s3:Get*"), CREATED))
            for kind, owner in [(OwnerKind.USER, "alice"), (OwnerKind.GROUP, "admins"), (OwnerKind.ROLE, "deployer")]:
                await store.delete_inline_policy(kind, owner, "inline")
                await store.attach_policy(kind, owner, policy("readers").arn)
            with pytest.raises(DeleteConflictException, match="must detach all policies first"):
                await store.delete_user("alice")
            with pytest.raises(DeleteConflictException, match="must detach all policies first"):
                await store.delete_role("deployer")
            with pytest.raises(DeleteConflictException, match="Cannot delete a policy attached to entities."):
                await store.delete_managed_policy(policy("readers").arn)
            for kind, owner in [(OwnerKind.USER, "alice"), (OwnerKind.GROUP, "admins"), (OwnerKind.ROLE, "deployer")]:
                assert await store.detach_policy(kind, owner, policy("readers").arn)
            assert await store.delete_user("ALICE")
            assert await store.delete_group("admins")
            assert await store.delete_role("deployer")
            assert await store.delete_managed_policy(policy("readers").arn)
            assert not await store.delete_user("alice")
            assert not await store.delete_group("admins")
            assert not await store.delete_role("deployer")
            assert not await store.delete_managed_policy(policy("readers").arn)

        run(scenario)


class TestAccessKeys:
    def test_keys_belong_to_a_user_and_are_found_by_id(self, run) -> None:
        async def scenario(store: IamStore, reopen) -> None:
            with pytest.raises(NoSuchEntityException, match="The user with name alice cannot be found."):
                await store.create_access_key(key("AKIAAAAAAAAAAAAAAAA1", "alice"))
            await store.create_user(user("alice"))
            await store.create_user(user("bob"))
            await store.create_access_key(key("AKIAAAAAAAAAAAAAAAA2", "alice", "2026-01-02T00:00:00Z"))
            await store.create_access_key(key("AKIAAAAAAAAAAAAAAAA1", "alice", "2026-01-01T00:00:00Z"))
            await store.close()
            store = reopen()
            assert await store.get_access_key("AKIAAAAAAAAAAAAAAAA1") == key("AKIAAAAAAAAAAAAAAAA1", "alice")
            assert await store.get_access_key("AKIAAAAAAAAAAAAAAAA9") is None
            assert [k.access_key_id for k in await store.list_access_keys("alice")] == [
                "AKIAAAAAAAAAAAAAAAA1", "AKIAAAAAAAAAAAAAAAA2"]
            assert await store.list_access_keys("bob") == []
            # only the owner's key can be changed or deleted through the owner
            assert not await store.set_access_key_status("bob", "AKIAAAAAAAAAAAAAAAA1", "Inactive")
            assert await store.set_access_key_status("alice", "AKIAAAAAAAAAAAAAAAA1", "Inactive")
            assert (await store.get_access_key("AKIAAAAAAAAAAAAAAAA1")).status == "Inactive"  # type: ignore[union-attr]
            assert not await store.delete_access_key("bob", "AKIAAAAAAAAAAAAAAAA1")
            assert await store.delete_access_key("alice", "AKIAAAAAAAAAAAAAAAA1")
            assert await store.get_access_key("AKIAAAAAAAAAAAAAAAA1") is None

        run(scenario)

    def test_a_user_has_at_most_two_keys_even_when_asked_at_once(self, run) -> None:
        async def scenario(store: IamStore, reopen) -> None:
            await store.create_user(user("alice"))
            results = await asyncio.gather(*(store.create_access_key(key(f"AKIAAAAAAAAAAAAAAAA{n}", "alice"))
                                             for n in range(5)), return_exceptions=True)
            refused = [r for r in results if isinstance(r, LimitExceededException)]
            assert len(refused) == 3
            assert str(refused[0]) == "Cannot exceed quota for AccessKeysPerUser: 2"
            assert len(await store.list_access_keys("alice")) == 2

        run(scenario)


class TestGroupsAndInlinePolicies:
    def test_membership_both_ways(self, run) -> None:
        async def scenario(store: IamStore, reopen) -> None:
            await store.create_user(user("alice"))
            await store.create_user(user("bob"))
            await store.create_group(group("devs"))
            await store.create_group(group("admins"))
            with pytest.raises(NoSuchEntityException, match="The group with name ops cannot be found."):
                await store.add_user_to_group("ops", "alice")
            with pytest.raises(NoSuchEntityException, match="The user with name carol cannot be found."):
                await store.add_user_to_group("devs", "carol")
            await store.add_user_to_group("devs", "alice")
            await store.add_user_to_group("devs", "alice")  # again: no change
            await store.add_user_to_group("admins", "alice")
            await store.add_user_to_group("devs", "bob")
            assert [g.name for g in await store.groups_of_user("alice")] == ["admins", "devs"]
            assert [u.name for u in await store.users_of_group("devs")] == ["alice", "bob"]
            assert await store.remove_user_from_group("devs", "alice")
            assert not await store.remove_user_from_group("devs", "alice")
            assert [g.name for g in await store.groups_of_user("alice")] == ["admins"]

        run(scenario)

    def test_inline_policies_are_put_replaced_listed_and_deleted(self, run) -> None:
        async def scenario(store: IamStore, reopen) -> None:
            with pytest.raises(NoSuchEntityException, match="The role with name deployer cannot be found."):
                await store.put_inline_policy(OwnerKind.ROLE, "deployer", "p", document("s3:*"))
            await store.create_role(role("deployer"))
            await store.create_user(user("deployer"))  # same name, other kind: its own policies
            await store.put_inline_policy(OwnerKind.ROLE, "deployer", "b", document("s3:*"))
            await store.put_inline_policy(OwnerKind.ROLE, "deployer", "a", document("sqs:*"))
            await store.put_inline_policy(OwnerKind.ROLE, "deployer", "a", document("sns:*"))
            assert await store.list_inline_policies(OwnerKind.ROLE, "deployer") == ["a", "b"]
            assert await store.list_inline_policies(OwnerKind.USER, "deployer") == []
            assert await store.get_inline_policy(OwnerKind.ROLE, "deployer", "a") == document("sns:*")
            assert await store.get_inline_policy(OwnerKind.USER, "deployer", "a") is None
            assert await store.delete_inline_policy(OwnerKind.ROLE, "deployer", "a")
            assert not await store.delete_inline_policy(OwnerKind.ROLE, "deployer", "a")
            assert await store.list_inline_policies(OwnerKind.ROLE, "deployer") == ["b"]

        run(scenario)


class TestManagedPolicies:
    def test_a_policy_is_created_with_its_first_version_and_names_are_unique(self, run) -> None:
        async def scenario(store: IamStore, reopen) -> None:
            await store.create_managed_policy(policy("readers"), PolicyVersion("v1", document("s3:Get*"), CREATED))
            with pytest.raises(EntityAlreadyExistsException, match="A policy called Readers already exists."):
                await store.create_managed_policy(policy("Readers", "/other/"),
                                                  PolicyVersion("v1", document("s3:*"), CREATED))
            await store.close()
            store = reopen()
            stored = await store.get_managed_policy(policy("readers").arn)
            assert stored == policy("readers")
            versions = await store.list_policy_versions(policy("readers").arn)
            assert versions == [PolicyVersion("v1", document("s3:Get*"), CREATED, is_default=True)]
            assert await store.get_managed_policy("arn:aws:iam::123456789012:policy/none") is None

        run(scenario)

    def test_versions_are_numbered_on_never_reused_capped_at_five(self, run) -> None:
        async def scenario(store: IamStore, reopen) -> None:
            arn = policy("readers").arn
            await store.create_managed_policy(policy("readers"), PolicyVersion("v1", document("a:1"), CREATED))
            assert await store.add_policy_version(arn, PolicyVersion("x", document("a:2"), CREATED), False) == "v2"
            assert await store.add_policy_version(arn, PolicyVersion("", document("a:3"), CREATED), True) == "v3"
            assert (await store.get_managed_policy(arn)).default_version_id == "v3"  # type: ignore[union-attr]
            assert (await store.get_policy_version(arn, "v3")).is_default  # type: ignore[union-attr]
            assert not (await store.get_policy_version(arn, "v1")).is_default  # type: ignore[union-attr]
            assert await store.get_policy_version(arn, "v9") is None
            assert await store.get_policy_version(arn, "x1") is None
            with pytest.raises(DeleteConflictException, match="Cannot delete the default version of a policy."):
                await store.delete_policy_version(arn, "v3")
            assert await store.delete_policy_version(arn, "v2")
            assert not await store.delete_policy_version(arn, "v2")
            assert await store.add_policy_version(arn, PolicyVersion("", document("a:4"), CREATED), False) == "v4"
            for _ in range(MAX_POLICY_VERSIONS - 3):
                await store.add_policy_version(arn, PolicyVersion("", document("a:n"), CREATED), False)
            with pytest.raises(LimitExceededException, match="can have up to 5 versions"):
                await store.add_policy_version(arn, PolicyVersion("", document("a:x"), CREATED), False)
            assert [v.version_id for v in await store.list_policy_versions(arn)] == ["v6", "v5", "v4", "v3", "v1"]
            assert await store.set_default_policy_version(arn, "v1")
            assert not await store.set_default_policy_version(arn, "v2")
            with pytest.raises(DeleteConflictException, match="more than one version"):
                await store.delete_managed_policy(arn)
            with pytest.raises(NoSuchEntityException, match="does not exist or is not attachable"):
                await store.add_policy_version(arn + "x", PolicyVersion("", document("a:x"), CREATED), False)

        run(scenario)

    def test_attachments_both_ways_and_counted(self, run) -> None:
        async def scenario(store: IamStore, reopen) -> None:
            arn = policy("readers").arn
            await store.create_managed_policy(policy("readers"), PolicyVersion("v1", document("s3:Get*"), CREATED))
            await store.create_managed_policy(policy("writers"), PolicyVersion("v1", document("s3:Put*"), CREATED))
            await store.create_user(user("alice"))
            await store.create_role(role("deployer"))
            with pytest.raises(NoSuchEntityException, match="does not exist or is not attachable"):
                await store.attach_policy(OwnerKind.USER, "alice", arn + "-gone")
            with pytest.raises(NoSuchEntityException, match="The user with name bob cannot be found."):
                await store.attach_policy(OwnerKind.USER, "bob", arn)
            await store.attach_policy(OwnerKind.USER, "alice", arn)
            await store.attach_policy(OwnerKind.USER, "alice", arn)  # again: no change
            await store.attach_policy(OwnerKind.ROLE, "deployer", arn)
            await store.attach_policy(OwnerKind.USER, "alice", policy("writers").arn)
            assert [p.name for p in await store.attached_policies(OwnerKind.USER, "alice")] == ["readers", "writers"]
            assert await store.policy_attachments(arn) == [(OwnerKind.ROLE, "deployer"), (OwnerKind.USER, "alice")]
            assert (await store.get_managed_policy(arn)).attachment_count == 2  # type: ignore[union-attr]
            attached = await store.list_managed_policies("/", True, None, 10)
            assert [p.name for p in attached] == ["readers", "writers"]
            assert await store.detach_policy(OwnerKind.USER, "alice", policy("writers").arn)
            assert not await store.detach_policy(OwnerKind.USER, "alice", policy("writers").arn)
            assert [p.name for p in await store.list_managed_policies("/", True, None, 10)] == ["readers"]
            assert [p.name for p in await store.list_managed_policies("/", False, "readers", 10)] == ["writers"]

        run(scenario)


def test_the_generation_moves_on_with_every_write_and_not_with_reads(run) -> None:
    async def scenario(store: IamStore, reopen) -> None:
        seen = [store.generation]

        async def moved(write) -> None:
            await write
            assert store.generation > seen[-1]
            seen.append(store.generation)

        await moved(store.create_user(user("alice")))
        await moved(store.put_inline_policy(OwnerKind.USER, "alice", "p", document("s3:*")))
        await moved(store.create_group(group("devs")))
        await moved(store.add_user_to_group("devs", "alice"))
        await moved(store.remove_user_from_group("devs", "alice"))
        await moved(store.delete_inline_policy(OwnerKind.USER, "alice", "p"))
        await store.get_user("alice")
        await store.list_inline_policies(OwnerKind.USER, "alice")
        await store.groups_of_user("alice")
        assert store.generation == seen[-1]

    run(scenario)
