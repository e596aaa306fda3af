"""The Store contract (ember/store/base.py), run against every backend in STORES.

Each scenario opens the backend afresh on temporary storage; `reopen` opens it again on the
same storage, as a restarted server would.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ember.errors import ResourceConflictException
from ember.iam.keyring import Keyring
from ember.iam.sealing import FernetSealer, SealBroken
from ember.models import (
    Alias,
    EventInvokeConfig,
    FunctionCode,
    FunctionConfig,
    FunctionLayer,
    FunctionUrlConfig,
    LayerVersion,
    ProvisionedConfig,
)
from ember.store import STORES, open_store
from ember.store.base import Store
from tests.unit.contract import scenario_runner

#: how to open each backend on a test's temporary folder (a server-backed one would skip when
#: its server does not answer)
BACKEND_OPTIONS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "sqlite": lambda tmp_path: {"path": tmp_path / "store.db"},
}


def test_every_registered_store_runs_the_contract() -> None:
    assert set(BACKEND_OPTIONS) == set(STORES)


@pytest.fixture(params=sorted(STORES))
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., None]:
    """run(scenario): `scenario(store, reopen)` on a fresh backend, closed afterwards."""
    return scenario_runner(open_store, request.param, BACKEND_OPTIONS[request.param](tmp_path))


def code(seed: str) -> FunctionCode:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return FunctionCode(digest, digest[:8], size_bytes=len(seed) * 10, unzipped_bytes=len(seed) * 30)


def function(name: str, seed: str | None = None, **fields: Any) -> FunctionConfig:
    return FunctionConfig(name=name, runtime="python3.12", handler="app.handler",
                          role="arn:aws:iam::000000000000:role/r", code=code(seed or name), **fields)


def layer_maker(layer_name: str, seed: str) -> Callable[[int], LayerVersion]:
    return lambda number: LayerVersion(layer_name, number, code(f"{seed}-{number}"))


class TestFunctions:
    def test_create_get_and_a_missing_name(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            created = function("f", environment={"A": "1"}, tags={"team": "x"}, memory_mb=256)
            await store.create_function(created)
            assert await store.get_function("f") == created
            assert await store.get_function("g") is None
            with pytest.raises(ResourceConflictException):
                await store.create_function(function("f", seed="other"))
            assert (await store.get_function("f")).code == created.code  # the first one stays

        run(scenario)

    def test_list_functions_pages_by_name(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            for name in ["delta", "alpha", "echo", "charlie", "bravo"]:
                await store.create_function(function(name))
            first = await store.list_functions(None, 2)
            assert [f.name for f in first] == ["alpha", "bravo"]
            second = await store.list_functions(first[-1].name, 2)
            assert [f.name for f in second] == ["charlie", "delta"]
            assert [f.name for f in await store.list_functions("delta", 2)] == ["echo"]
            assert await store.list_functions("echo", 2) == []
            assert [f.name for f in await store.list_functions("b", 50)] == ["bravo", "charlie", "delta", "echo"]

        run(scenario)

    def test_replace_function_swaps_only_an_unchanged_record(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            original = function("f")
            await store.create_function(original)
            await store.get_function("f")  # a read before the write must not be served after it
            updated = original.revised(memory_mb=512)
            assert await store.replace_function(updated, original.revision_id)
            assert await store.get_function("f") == updated
            stale = original.revised(timeout_s=30)
            assert not await store.replace_function(stale, original.revision_id)
            assert await store.get_function("f") == updated
            assert not await store.replace_function(function("missing"), "any-revision")
            assert await store.get_function("missing") is None

        run(scenario)

    def test_function_urls_are_one_per_qualifier_found_by_id_and_go_with_their_function_or_alias(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            await store.create_function(function("f"))
            await store.create_alias(Alias("f", "live", "$LATEST"))
            latest = FunctionUrlConfig("f", "$LATEST", "a" * 32, "NONE", cors={"AllowOrigins": ["*"]})
            live = FunctionUrlConfig("f", "live", "b" * 32, "AWS_IAM", invoke_mode="RESPONSE_STREAM")
            assert await store.create_function_url(latest) and await store.create_function_url(live)
            assert not await store.create_function_url(replace(latest, url_id="c" * 32))  # one per qualifier
            assert not await store.create_function_url(FunctionUrlConfig("g", "$LATEST", "a" * 32, "NONE"))  # ids
            changed = replace(latest, auth_type="AWS_IAM", cors=None, last_modified_time="2026-01-01T00:00:00.000+0000")
            assert await store.replace_function_url(changed)
            assert not await store.replace_function_url(FunctionUrlConfig("f", "other", "d" * 32, "NONE"))
            await store.close()
            store = reopen()
            assert await store.get_function_url("f", "$LATEST") == changed
            assert await store.find_function_url("b" * 32) == live
            assert await store.find_function_url("z" * 32) is None
            assert [c.qualifier for c in await store.list_function_urls("f")] == ["$LATEST", "live"]
            assert await store.delete_alias("f", "live")
            assert await store.find_function_url("b" * 32) is None
            assert await store.delete_function("f")
            assert await store.list_function_urls("f") == [] and await store.find_function_url("a" * 32) is None
            assert not await store.delete_function_url("f", "$LATEST")

        run(scenario)

    def test_delete_function_takes_its_versions_aliases_and_event_configs_along(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            for name in ("f", "kept"):
                await store.create_function(function(name))
                await store.add_version(function(name, version="1"))
                await store.create_alias(Alias(name, "live", "1"))
                await store.put_event_invoke_config(EventInvokeConfig(name, "$LATEST", max_retry_attempts=0))
                await store.put_event_invoke_config(EventInvokeConfig(name, "live", max_retry_attempts=1))
            assert await store.get_event_invoke_config("f", "live") is not None  # read (and maybe cached)
            assert await store.delete_function("f")
            assert await store.get_function("f") is None
            assert await store.list_versions("f") == []
            assert await store.get_version("f", "1") is None
            assert await store.list_aliases("f") == [] and await store.get_alias("f", "live") is None
            assert await store.list_event_invoke_configs("f") == []
            assert await store.get_event_invoke_config("f", "live") is None
            assert not await store.delete_function("f")
            # The other function is untouched.
            assert await store.get_function("kept") is not None
            assert [v.version for v in await store.list_versions("kept")] == ["1"]
            assert [a.name for a in await store.list_aliases("kept")] == ["live"]
            assert len(await store.list_event_invoke_configs("kept")) == 2

        run(scenario)

    def test_count_functions_counts_them_and_their_zip_bytes(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            assert await store.count_functions() == (0, 0)
            first, second = function("a"), function("bb")
            await store.create_function(first)
            await store.create_function(second)
            await store.add_version(function("a", version="1"))  # versions are not functions
            assert await store.count_functions() == (2, first.code.size_bytes + second.code.size_bytes)
            await store.delete_function("a")
            assert await store.count_functions() == (1, second.code.size_bytes)

        run(scenario)


class TestVersions:
    def test_add_get_list_in_number_order(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            await store.create_function(function("f"))
            for number in ("2", "10", "1"):
                assert await store.add_version(function("f", seed=f"v{number}", version=number))
            assert not await store.add_version(function("f", seed="again", version="2"))
            assert (await store.get_version("f", "2")).code == code("v2")  # the first one stays
            assert [v.version for v in await store.list_versions("f")] == ["1", "2", "10"]
            assert await store.get_version("f", "3") is None
            assert await store.get_version("f", "$LATEST") is None  # not a number: no version
            assert await store.get_version("g", "1") is None
            assert await store.list_versions("g") == []

        run(scenario)

    def test_replace_and_delete_a_version(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            await store.create_function(function("f"))
            version = function("f", version="1")
            await store.add_version(version)
            await store.put_event_invoke_config(EventInvokeConfig("f", "1", max_retry_attempts=0))
            await store.put_event_invoke_config(EventInvokeConfig("f", "$LATEST", max_retry_attempts=1))
            statement = {"Sid": "s", "Effect": "Allow"}
            with_policy = version.revised(policy_statements=(statement,))
            assert await store.replace_version(with_policy, version.revision_id)
            assert await store.get_version("f", "1") == with_policy
            assert not await store.replace_version(version.revised(), version.revision_id)
            assert await store.get_event_invoke_config("f", "1") is not None
            assert await store.delete_version("f", "1")
            assert await store.get_version("f", "1") is None
            assert await store.get_event_invoke_config("f", "1") is None
            assert await store.get_event_invoke_config("f", "$LATEST") is not None
            assert not await store.delete_version("f", "1")

        run(scenario)


class TestAliases:
    def test_create_get_list_replace_delete(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            await store.create_function(function("f"))
            live = Alias("f", "live", "1", description="prod", additional_weights={"2": 0.25})
            await store.create_alias(live)
            await store.create_alias(Alias("f", "beta", "2"))
            await store.create_alias(Alias("g", "live", "1"))  # names are per function
            with pytest.raises(ResourceConflictException):
                await store.create_alias(Alias("f", "live", "3"))
            assert await store.get_alias("f", "live") == live
            assert await store.get_alias("f", "missing") is None
            assert [a.name for a in await store.list_aliases("f")] == ["beta", "live"]
            moved = live.revised(function_version="2", additional_weights={})
            assert await store.replace_alias(moved, live.revision_id)
            assert not await store.replace_alias(live.revised(), live.revision_id)
            assert await store.get_alias("f", "live") == moved
            await store.put_event_invoke_config(EventInvokeConfig("f", "live", max_event_age_s=60))
            assert await store.get_event_invoke_config("f", "live") is not None
            assert await store.delete_alias("f", "live")
            assert await store.get_alias("f", "live") is None
            assert await store.get_event_invoke_config("f", "live") is None
            assert not await store.delete_alias("f", "live")
            assert await store.get_alias("g", "live") is not None

        run(scenario)


class TestLayers:
    def test_numbers_count_up_per_layer_and_are_never_reused(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            first = await store.add_layer_version("deps", layer_maker("deps", "a"))
            second = await store.add_layer_version("deps", layer_maker("deps", "a"))
            other = await store.add_layer_version("tools", layer_maker("tools", "t"))
            assert (first.version, second.version, other.version) == (1, 2, 1)
            assert await store.get_layer_version("deps", 2) == second
            assert await store.delete_layer_version("deps", 2)
            assert not await store.delete_layer_version("deps", 2)
            assert await store.get_layer_version("deps", 2) is None
            third = await store.add_layer_version("deps", layer_maker("deps", "a"))
            assert third.version == 3

        run(scenario)

    def test_a_failing_make_stores_nothing(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            def refuse(number: int) -> LayerVersion:
                raise ValueError("refused")

            with pytest.raises(ValueError):
                await store.add_layer_version("deps", refuse)
            assert await store.list_layer_versions("deps") == []
            assert (await store.add_layer_version("deps", layer_maker("deps", "a"))).version == 1

        run(scenario)

    def test_list_by_layer_name_then_newest_first(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            for name in ("zeta", "alpha", "zeta", "alpha", "alpha"):
                await store.add_layer_version(name, layer_maker(name, name))
            assert [(lv.layer_name, lv.version) for lv in await store.list_layer_versions()] == [
                ("alpha", 3), ("alpha", 2), ("alpha", 1), ("zeta", 2), ("zeta", 1)]
            assert [lv.version for lv in await store.list_layer_versions("zeta")] == [2, 1]
            assert await store.list_layer_versions("missing") == []
            assert await store.get_layer_version("missing", 1) is None

        run(scenario)

    def test_replace_a_layer_version_only_when_unchanged(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            stored = await store.add_layer_version("deps", layer_maker("deps", "a"))
            with_policy = replace(stored, policy_statements=({"Sid": "s"},), revision_id="r2")
            assert await store.replace_layer_version(with_policy, stored.revision_id)
            assert await store.get_layer_version("deps", 1) == with_policy
            assert not await store.replace_layer_version(replace(stored, revision_id="r3"), stored.revision_id)
            assert not await store.replace_layer_version(replace(stored, version=9), stored.revision_id)

        run(scenario)


class TestProvisionedConfigs:
    def test_put_replaces_list_orders_delete_one_or_all(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            await store.put_provisioned(ProvisionedConfig("f", "live", 2))
            await store.put_provisioned(ProvisionedConfig("f", "1", 1))
            await store.put_provisioned(ProvisionedConfig("e", "1", 1))
            await store.put_provisioned(ProvisionedConfig("f", "live", 5, last_modified="later"))
            assert [(p.function_name, p.qualifier, p.requested) for p in await store.list_provisioned()] == [
                ("e", "1", 1), ("f", "1", 1), ("f", "live", 5)]
            assert (await store.list_provisioned("f"))[1] == ProvisionedConfig("f", "live", 5, "later")
            assert await store.delete_provisioned("f", "1")
            assert not await store.delete_provisioned("f", "1")
            assert await store.delete_provisioned("e")
            assert not await store.delete_provisioned("e")
            assert [p.qualifier for p in await store.list_provisioned()] == ["live"]
            assert await store.list_provisioned("missing") == []

        run(scenario)


class TestEventInvokeConfigs:
    def test_put_replaces_get_list_delete(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            assert await store.get_event_invoke_config("f", "$LATEST") is None  # absent, then put
            config = EventInvokeConfig("f", "$LATEST", max_retry_attempts=1, on_failure_arn="arn:x")
            await store.put_event_invoke_config(config)
            assert await store.get_event_invoke_config("f", "$LATEST") == config
            changed = EventInvokeConfig("f", "$LATEST", max_event_age_s=120)
            await store.put_event_invoke_config(changed)
            assert await store.get_event_invoke_config("f", "$LATEST") == changed
            await store.put_event_invoke_config(EventInvokeConfig("f", "2"))
            await store.put_event_invoke_config(EventInvokeConfig("g", "1"))
            assert [c.qualifier for c in await store.list_event_invoke_configs("f")] == ["$LATEST", "2"]
            assert await store.delete_event_invoke_config("f", "2")
            assert not await store.delete_event_invoke_config("f", "2")
            assert await store.get_event_invoke_config("f", "2") is None
            assert await store.list_event_invoke_configs("missing") == []

        run(scenario)


class TestCodeReferences:
    def test_every_zip_the_records_use_and_every_layer_list(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            empty = await store.code_references()
            assert (empty.digests, empty.layer_lists) == (frozenset(), frozenset())
            layer = await store.add_layer_version("deps", layer_maker("deps", "layer"))
            unused = await store.add_layer_version("deps", layer_maker("deps", "unused"))
            held = (FunctionLayer("arn:layer:deps:1", layer.code), FunctionLayer("arn:layer:x:1", code("x-layer")))
            await store.create_function(function("f", seed="latest", layers=held))
            await store.add_version(function("f", seed="v1", version="1", layers=held[:1]))
            await store.create_function(function("plain", seed="plain"))
            # A version keeps the layers it was published with even once the layer version is gone.
            await store.delete_layer_version("deps", layer.version)
            references = await store.code_references()
            assert references.digests == {code(seed).sha256_hex for seed in ("latest", "v1", "plain", "x-layer")} | {
                layer.code.sha256_hex, unused.code.sha256_hex}
            assert references.layer_lists == {
                (layer.code.sha256_hex, code("x-layer").sha256_hex), (layer.code.sha256_hex,)}
            await store.delete_function("f")
            after = await store.code_references()
            assert after.digests == {code("plain").sha256_hex, unused.code.sha256_hex}
            assert after.layer_lists == frozenset()

        run(scenario)


class TestDurabilityAndConcurrency:
    def test_every_record_survives_a_reopen(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            created = function("f")
            await store.create_function(created)
            await store.add_version(function("f", version="1"))
            await store.create_alias(Alias("f", "live", "1"))
            layer = await store.add_layer_version("deps", layer_maker("deps", "a"))
            await store.put_provisioned(ProvisionedConfig("f", "live", 1, "t"))
            config = EventInvokeConfig("f", "live", max_retry_attempts=0)
            await store.put_event_invoke_config(config)
            await store.close()
            again = reopen()
            assert await again.get_function("f") == created
            assert [v.version for v in await again.list_versions("f")] == ["1"]
            assert (await again.get_alias("f", "live")).function_version == "1"
            assert await again.get_layer_version("deps", 1) == layer
            assert await again.list_provisioned() == [ProvisionedConfig("f", "live", 1, "t")]
            assert await again.get_event_invoke_config("f", "live") == config
            assert (await again.add_layer_version("deps", layer_maker("deps", "b"))).version == 2

        run(scenario)

    def test_concurrent_creates_all_land_and_a_name_is_taken_once(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            names = [f"f{n:02}" for n in range(40)]
            await asyncio.gather(*(store.create_function(function(name)) for name in names))
            outcomes = await asyncio.gather(*(store.create_function(function("same", seed=str(n)))
                                              for n in range(10)), return_exceptions=True)
            assert sum(outcome is None for outcome in outcomes) == 1
            assert all(isinstance(o, ResourceConflictException) for o in outcomes if o is not None)
            assert [f.name for f in await store.list_functions(None, 100)] == [*names, "same"]

        run(scenario)

    def test_concurrent_replaces_of_one_revision_let_exactly_one_win(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            original = function("f")
            await store.create_function(original)
            candidates = [original.revised(memory_mb=128 + n) for n in range(20)]
            won = await asyncio.gather(*(store.replace_function(c, original.revision_id) for c in candidates))
            assert won.count(True) == 1
            assert await store.get_function("f") == candidates[won.index(True)]

        run(scenario)

    def test_concurrent_layer_publishes_get_distinct_numbers(self, run) -> None:
        async def scenario(store: Store, reopen) -> None:
            published = await asyncio.gather(*(store.add_layer_version("deps", layer_maker("deps", str(n)))
                                               for n in range(20)))
            assert sorted(layer.version for layer in published) == list(range(1, 21))
            assert len(await store.list_layer_versions("deps")) == 20

        run(scenario)


class TestSealedEnvironments:
    """With a Sealer, functions' environment variables never reach storage in the clear."""

    SECRET = "s3cr3t-value-that-must-not-be-on-disk"

    @pytest.fixture(params=sorted(STORES))
    def sealed_run(self, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., None]:
        options = {**BACKEND_OPTIONS[request.param](tmp_path / "store"), "sealer": FernetSealer(Keyring(b"m" * 32))}
        return scenario_runner(open_store, request.param, options)

    @staticmethod
    def stored_bytes(folder: Path) -> bytes:
        return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())

    def test_environment_variables_are_sealed_and_read_back(self, sealed_run, tmp_path: Path) -> None:
        async def scenario(store: Store, reopen) -> None:
            await store.create_function(function("f", environment={"API_KEY": self.SECRET}))
            await store.add_version(function("f", environment={"API_KEY": self.SECRET}, version="1"))
            await store.close()
            store = reopen()
            assert (await store.get_function("f")).environment == {"API_KEY": self.SECRET}  # type: ignore[union-attr]
            assert (await store.get_version("f", "1")).environment == {"API_KEY": self.SECRET}  # type: ignore[union-attr]
            await store.close()
            assert self.SECRET.encode() not in self.stored_bytes(tmp_path / "store")

        sealed_run(scenario)

    def test_environments_stored_in_the_clear_before_are_sealed_at_open(self, tmp_path: Path) -> None:
        async def main() -> None:
            for kind in sorted(STORES):
                folder = tmp_path / kind
                options = BACKEND_OPTIONS[kind](folder)
                clear = open_store(kind, **options)
                await clear.create_function(function("f", environment={"API_KEY": self.SECRET}))
                await clear.close()
                assert self.SECRET.encode() in self.stored_bytes(folder)
                sealed = open_store(kind, **options, sealer=FernetSealer(Keyring(b"m" * 32)))
                assert (await sealed.get_function("f")).environment == {"API_KEY": self.SECRET}  # type: ignore[union-attr]
                await sealed.close()
                assert self.SECRET.encode() not in self.stored_bytes(folder)
                with pytest.raises(SealBroken):  # another server's key cannot read them
                    other = open_store(kind, **options, sealer=FernetSealer(Keyring(b"x" * 32)))
                    try:
                        await other.get_function("f")
                    finally:
                        await other.close()

        asyncio.run(main())
