"""The ApiGatewayStore contract (ember/apigateway_store/base.py), run against every backend in
APIGATEWAY_STORES.

Each scenario opens the backend afresh on temporary storage; `reopen` opens it again on the
same storage, as a restarted server would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ember.apigateway_store import APIGATEWAY_STORES, open_apigateway_store
from ember.apigateway_store.base import ApiGatewayStore, IdTaken
from ember.apigateway_store.records import (
    Authorizer,
    AuthorizerType,
    Deployment,
    Integration,
    IntegrationResponse,
    IntegrationType,
    Method,
    MethodResponse,
    RestApi,
    Stage,
    StagePlacement,
)
from ember.errors import BadRequestException, ConflictException, NotFoundException
from tests.unit.contract import scenario_runner

ACCOUNT = "123456789012"
#: how to open each backend on a test's temporary folder
BACKEND_OPTIONS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "sqlite": lambda tmp_path: {"path": tmp_path / "apigateway.db", "account_id": ACCOUNT},
}
LAMBDA_URI = ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
              f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:items/invocations")
CREATED_S = 1_700_000_000.0


def test_every_registered_apigateway_store_runs_the_contract() -> None:
    assert set(BACKEND_OPTIONS) == set(APIGATEWAY_STORES)


@pytest.fixture(params=sorted(APIGATEWAY_STORES))
def run(request: pytest.FixtureRequest, tmp_path: Path):
    return scenario_runner(open_apigateway_store, request.param, BACKEND_OPTIONS[request.param](tmp_path))


def rest_api(api_id: str = "a1b2c3d4e5", name: str = "shop") -> RestApi:
    return RestApi(api_id, name, CREATED_S, f"r{api_id[1:]}", description="the shop", tags={"team": "web"})


def proxy_method(http_method: str = "ANY", authorizer_id: str | None = None) -> Method:
    return Method(http_method, "CUSTOM" if authorizer_id else "NONE", authorizer_id,
                  request_parameters={"method.request.path.id": True},
                  integration=Integration(IntegrationType.AWS_PROXY, "POST", LAMBDA_URI))


def token_authorizer(authorizer_id: str = "auth01") -> Authorizer:
    return Authorizer(authorizer_id, "bearer", AuthorizerType.TOKEN, LAMBDA_URI, "method.request.header.Authorization")


async def api_with_items(store: ApiGatewayStore, api: RestApi | None = None) -> tuple[RestApi, str]:
    """An API with /items carrying ANY → Lambda; (the API, the /items resource id)."""
    api = api or rest_api()
    await store.create_rest_api(api)
    items = await store.create_resource(api.api_id, "items1", api.root_resource_id, "items")
    await store.put_method(api.api_id, items.resource_id, proxy_method())
    return api, items.resource_id


class TestRestApis:
    def test_an_api_and_its_root_resource_round_trip_and_survive_a_restart(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api = rest_api()
            await store.create_rest_api(api)
            await store.close()
            store = reopen()
            assert await store.get_rest_api(api.api_id) == api
            [root] = await store.list_resources(api.api_id)
            assert (root.resource_id, root.parent_id, root.path_part, root.path) == (api.root_resource_id, None,
                                                                                     None, "/")
            assert await store.get_rest_api("nope000000") is None

        run(scenario)

    def test_a_taken_id_is_refused_so_the_caller_draws_another(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            await store.create_rest_api(rest_api())
            with pytest.raises(IdTaken):
                await store.create_rest_api(rest_api(name="other"))
            assert (await store.get_rest_api("a1b2c3d4e5")).name == "shop"  # type: ignore[union-attr]

        run(scenario)

    def test_apis_list_by_id_in_pages(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            for api_id in ["ccccc00000", "aaaaa00000", "bbbbb00000"]:
                await store.create_rest_api(rest_api(api_id))
            assert [a.api_id for a in await store.list_rest_apis(None, 10)] == ["aaaaa00000", "bbbbb00000",
                                                                               "ccccc00000"]
            assert [a.api_id for a in await store.list_rest_apis("aaaaa00000", 1)] == ["bbbbb00000"]

        run(scenario)

    def test_update_keeps_the_identity_and_a_failing_change_keeps_the_record(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api = rest_api()
            await store.create_rest_api(api)
            changed = await store.update_rest_api(api.api_id, lambda a: replace(a, name="renamed", api_id="x",
                                                                                root_resource_id="y"))
            assert (changed.api_id, changed.root_resource_id, changed.name) == (api.api_id, api.root_resource_id,
                                                                                "renamed")

            def refuse(current: RestApi) -> RestApi:
                raise BadRequestException("no")

            with pytest.raises(BadRequestException):
                await store.update_rest_api(api.api_id, refuse)
            assert (await store.get_rest_api(api.api_id)) == changed
            with pytest.raises(NotFoundException, match=f"Invalid API identifier specified {ACCOUNT}:missing"):
                await store.update_rest_api("missing", lambda a: a)

        run(scenario)

    def test_deleting_an_api_deletes_everything_in_it(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api, _ = await api_with_items(store)
            await store.create_deployment(api.api_id, Deployment("dep001", CREATED_S), StagePlacement("prod"))
            assert await store.delete_rest_api(api.api_id)
            assert not await store.delete_rest_api(api.api_id)
            assert await store.deployed_stage(api.api_id, "prod") is None
            with pytest.raises(NotFoundException, match="Invalid API identifier specified"):
                await store.list_resources(api.api_id)
            await store.create_rest_api(api)  # the same ids are free again, with nothing left over
            assert [r.path for r in await store.list_resources(api.api_id)] == ["/"]

        run(scenario)


class TestResources:
    def test_paths_are_built_from_the_parents_and_listed_with_their_methods(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api, items = await api_with_items(store)
            item = await store.create_resource(api.api_id, "item01", items, "{id}")
            proxy = await store.create_resource(api.api_id, "proxy1", api.root_resource_id, "{proxy+}")
            assert (item.path, item.parent_id, proxy.path) == ("/items/{id}", items, "/{proxy+}")
            listed = await store.list_resources(api.api_id)
            assert [r.path for r in listed] == ["/", "/items", "/items/{id}", "/{proxy+}"]
            assert list(listed[1].methods) == ["ANY"]
            assert listed[1].methods["ANY"] == proxy_method()
            found = await store.get_resource(api.api_id, items)
            assert found is not None and found.methods == {"ANY": proxy_method()}
            assert await store.get_resource(api.api_id, "absent") is None

        run(scenario)

    def test_siblings_refused_in_api_gateways_words(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api, items = await api_with_items(store)
            with pytest.raises(ConflictException, match="Another resource with the same parent already has this "
                                                        "name: items"):
                await store.create_resource(api.api_id, "dup001", api.root_resource_id, "items")
            await store.create_resource(api.api_id, "item01", items, "{id}")
            with pytest.raises(ConflictException, match=r"A sibling \(\{id\}\) of this resource already has a "
                                                        "variable path part -- only one is allowed"):
                await store.create_resource(api.api_id, "name01", items, "{name}")
            greedy = await store.create_resource(api.api_id, "proxy1", api.root_resource_id, "{proxy+}")
            with pytest.raises(BadRequestException, match=r"greedy path variable: \{proxy\+\}"):
                await store.create_resource(api.api_id, "below1", greedy.resource_id, "more")
            with pytest.raises(NotFoundException, match="Invalid Resource identifier specified"):
                await store.create_resource(api.api_id, "orphan", "nosuch", "x")
            with pytest.raises(IdTaken):
                await store.create_resource(api.api_id, items, api.root_resource_id, "other")

        run(scenario)

    def test_deleting_a_resource_takes_its_subtree_and_methods_but_not_lookalikes(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api, items = await api_with_items(store)
            item = await store.create_resource(api.api_id, "item01", items, "{id}")
            await store.put_method(api.api_id, item.resource_id, proxy_method("GET"))
            await store.create_resource(api.api_id, "items2", api.root_resource_id, "items2")  # "/items" prefix
            assert await store.delete_resource(api.api_id, items)
            assert [r.path for r in await store.list_resources(api.api_id)] == ["/", "/items2"]
            assert not await store.delete_resource(api.api_id, items)
            with pytest.raises(BadRequestException, match="root resource"):
                await store.delete_resource(api.api_id, api.root_resource_id)
            # a new /items starts with no methods
            again = await store.create_resource(api.api_id, "items3", api.root_resource_id, "items")
            assert (await store.get_resource(api.api_id, again.resource_id)).methods == {}  # type: ignore[union-attr]

        run(scenario)


class TestMethods:
    def test_put_once_then_update_integration_and_responses(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api, items = await api_with_items(store)
            with pytest.raises(ConflictException, match="Method already exists for this resource"):
                await store.put_method(api.api_id, items, proxy_method())
            mock = Integration(IntegrationType.MOCK, request_templates={"application/json": '{"statusCode": 200}'},
                               responses={"200": IntegrationResponse("200", response_templates={"text/plain": "hi"})})
            changed = await store.update_method(api.api_id, items, "ANY", lambda m: replace(
                m, http_method="GET", integration=mock, responses={"200": MethodResponse("200")}))
            assert changed.http_method == "ANY"
            await store.close()
            store = reopen()
            assert await store.get_method(api.api_id, items, "ANY") == changed
            assert await store.get_method(api.api_id, items, "GET") is None
            with pytest.raises(NotFoundException, match="Invalid Method identifier specified"):
                await store.update_method(api.api_id, items, "GET", lambda m: m)
            with pytest.raises(NotFoundException, match="Invalid Resource identifier specified"):
                await store.get_method(api.api_id, "nosuch", "ANY")
            assert await store.delete_method(api.api_id, items, "ANY")
            assert not await store.delete_method(api.api_id, items, "ANY")

        run(scenario)

    def test_a_method_may_name_only_an_authorizer_the_api_has_which_then_cannot_go(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api, items = await api_with_items(store)
            with pytest.raises(BadRequestException, match="Invalid authorizer ID specified"):
                await store.put_method(api.api_id, items, proxy_method("GET", authorizer_id="auth01"))
            await store.create_authorizer(api.api_id, token_authorizer())
            await store.put_method(api.api_id, items, proxy_method("GET", authorizer_id="auth01"))
            with pytest.raises(BadRequestException, match="Cannot delete authorizer 'bearer', is referenced in "
                                                          "method: GET /items"):
                await store.delete_authorizer(api.api_id, "auth01")
            await store.update_method(api.api_id, items, "GET", lambda m: replace(m, authorization_type="NONE",
                                                                                  authorizer_id=None))
            assert await store.delete_authorizer(api.api_id, "auth01")
            assert await store.get_authorizer(api.api_id, "auth01") is None

        run(scenario)


class TestAuthorizers:
    def test_authorizers_round_trip_update_and_list(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api = rest_api()
            await store.create_rest_api(api)
            await store.create_authorizer(api.api_id, token_authorizer("auth02"))
            await store.create_authorizer(api.api_id, token_authorizer("auth01"))
            with pytest.raises(IdTaken):
                await store.create_authorizer(api.api_id, token_authorizer("auth01"))
            changed = await store.update_authorizer(api.api_id, "auth01", lambda a: replace(a, result_ttl_s=0,
                                                                                            authorizer_id="zzz"))
            assert (changed.authorizer_id, changed.result_ttl_s) == ("auth01", 0)
            assert [a.authorizer_id for a in await store.list_authorizers(api.api_id)] == ["auth01", "auth02"]
            with pytest.raises(NotFoundException, match="Invalid Authorizer identifier specified"):
                await store.update_authorizer(api.api_id, "nosuch", lambda a: a)

        run(scenario)


class TestDeployments:
    def test_a_deployment_is_a_snapshot_later_changes_do_not_touch(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api, items = await api_with_items(store)
            await store.create_authorizer(api.api_id, token_authorizer())
            await store.create_deployment(api.api_id, Deployment("dep001", CREATED_S, "first"),
                                          StagePlacement("prod", "production", {"alias": "live"}))
            await store.delete_resource(api.api_id, items)
            await store.update_rest_api(api.api_id, lambda a: replace(a, name="renamed"))
            await store.close()
            store = reopen()
            deployed = await store.deployed_stage(api.api_id, "prod")
            assert deployed is not None
            assert (deployed.deployment.deployment_id, deployed.deployment.description) == ("dep001", "first")
            assert deployed.variables == {"alias": "live"}
            assert deployed.stage.description == "production"
            assert [r.path for r in deployed.resources] == ["/", "/items"]
            assert deployed.resources[1].methods["ANY"].integration.uri == LAMBDA_URI  # type: ignore[union-attr]
            assert [a.name for a in deployed.authorizers] == ["bearer"]
            assert deployed.snapshot.rest_api.name == "shop"
            assert await store.deployment_snapshot(api.api_id, "dep001") == deployed.snapshot

        run(scenario)

    def test_deploying_again_moves_the_stage_and_merges_its_variables(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api, _ = await api_with_items(store)
            await store.create_deployment(api.api_id, Deployment("dep001", CREATED_S), StagePlacement(
                "prod", "production", {"a": "1", "b": "2"}))
            await store.create_deployment(api.api_id, Deployment("dep002", CREATED_S + 60), StagePlacement(
                "prod", "ignored for an existing stage", {"b": "3"}))
            stage = await store.get_stage(api.api_id, "prod")
            assert stage is not None
            assert (stage.deployment_id, stage.variables, stage.description) == ("dep002", {"a": "1", "b": "3"},
                                                                                 "production")
            assert (stage.created_at_s, stage.last_updated_at_s) == (CREATED_S, CREATED_S + 60)
            assert [d.deployment_id for d in await store.list_deployments(api.api_id, None, 10)] == ["dep001",
                                                                                                    "dep002"]
            assert [d.deployment_id for d in await store.list_deployments(api.api_id, "dep001", 10)] == ["dep002"]

        run(scenario)

    def test_an_api_without_methods_or_integrations_cannot_be_deployed(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api = rest_api()
            await store.create_rest_api(api)
            with pytest.raises(BadRequestException, match="The REST API doesn't contain any methods"):
                await store.create_deployment(api.api_id, Deployment("dep001", CREATED_S), None)
            await store.put_method(api.api_id, api.root_resource_id, Method("GET", "NONE"))
            with pytest.raises(BadRequestException, match="No integration defined for method"):
                await store.create_deployment(api.api_id, Deployment("dep001", CREATED_S), StagePlacement("prod"))
            assert await store.list_deployments(api.api_id, None, 10) == []
            assert await store.get_stage(api.api_id, "prod") is None

        run(scenario)

    def test_a_deployment_a_stage_uses_cannot_be_deleted(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api, _ = await api_with_items(store)
            await store.create_deployment(api.api_id, Deployment("dep001", CREATED_S), StagePlacement("prod"))
            with pytest.raises(BadRequestException, match="Active stages pointing to this deployment must be moved "
                                                          "or deleted"):
                await store.delete_deployment(api.api_id, "dep001")
            assert await store.delete_stage(api.api_id, "prod")
            assert await store.delete_deployment(api.api_id, "dep001")
            assert not await store.delete_deployment(api.api_id, "dep001")
            assert await store.get_deployment(api.api_id, "dep001") is None

        run(scenario)


class TestStages:
    def test_stages_need_a_deployment_are_unique_and_update_in_place(self, run) -> None:
        async def scenario(store: ApiGatewayStore, reopen) -> None:
            api, _ = await api_with_items(store)
            await store.create_deployment(api.api_id, Deployment("dep001", CREATED_S), None)
            await store.create_deployment(api.api_id, Deployment("dep002", CREATED_S), None)
            beta = Stage("beta", "dep001", CREATED_S, CREATED_S, variables={"x": "1"})
            with pytest.raises(NotFoundException, match="Invalid Deployment identifier specified"):
                await store.create_stage(api.api_id, replace(beta, deployment_id="nosuch"))
            await store.create_stage(api.api_id, beta)
            with pytest.raises(ConflictException, match="Stage already exists"):
                await store.create_stage(api.api_id, beta)
            await store.create_stage(api.api_id, Stage("alpha", "dep002", CREATED_S, CREATED_S))
            assert [s.stage_name for s in await store.list_stages(api.api_id, None)] == ["alpha", "beta"]
            assert [s.stage_name for s in await store.list_stages(api.api_id, "dep001")] == ["beta"]
            moved = await store.update_stage(api.api_id, "beta", lambda s: replace(s, deployment_id="dep002",
                                                                                   stage_name="renamed"))
            assert (moved.stage_name, moved.deployment_id) == ("beta", "dep002")
            with pytest.raises(NotFoundException, match="Invalid Deployment identifier specified"):
                await store.update_stage(api.api_id, "beta", lambda s: replace(s, deployment_id="nosuch"))
            with pytest.raises(NotFoundException, match="Invalid Stage identifier specified"):
                await store.update_stage(api.api_id, "gamma", lambda s: s)
            assert await store.delete_deployment(api.api_id, "dep001")  # nothing points at it any more
            assert await store.deployed_stage(api.api_id, "gamma") is None

        run(scenario)


def test_concurrent_creates_of_the_same_path_admit_exactly_one(run) -> None:
    async def scenario(store: ApiGatewayStore, reopen) -> None:
        api = rest_api()
        await store.create_rest_api(api)
        outcomes = await asyncio.gather(*(store.create_resource(api.api_id, f"res{n:03d}", api.root_resource_id,
                                                                "items") for n in range(8)), return_exceptions=True)
        assert sum(not isinstance(outcome, Exception) for outcome in outcomes) == 1
        assert all(isinstance(o, ConflictException) for o in outcomes if isinstance(o, Exception))

    run(scenario)
