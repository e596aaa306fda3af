"""The ApiGatewayStore contract: API Gateway's REST APIs (v1), their resources, methods,
integrations, authorizers, deployments and stages. Durable once a method returns.

A store holds one account's APIs (a backend is opened with its `account_id`, which API Gateway's
messages name). Everything inside a REST API is addressed by the API's id first. A method reading
or writing something in an API that does not exist raises NotFoundException in API Gateway's
words ("Invalid API identifier specified ACCOUNT:ID"), and likewise for a missing resource,
method or deployment that what is asked for belongs to. The thing asked for itself comes back as
None (reads) or False (deletes) when it is missing, and the service words that.

Refusals API Gateway words a particular way, and that depend on other records (a sibling with
the same path part, a deployment a stage uses, an authorizer a method names), are raised here,
inside the same transaction as the write they refuse, so two concurrent requests can never both
pass a check. The `change` functions that updates take run inside that transaction too: they
must be quick and pure, and an exception they raise leaves the record as it was.

Ids are chosen by the caller; a create whose id is taken raises IdTaken, and the caller draws
another.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from ember.apigateway_store.records import (
    ApiSnapshot,
    Authorizer,
    DeployedStage,
    Deployment,
    Method,
    Resource,
    RestApi,
    Stage,
    StagePlacement,
)
from ember.errors import ConflictException


class IdTaken(ConflictException):
    """The id given to a create is already in use: draw another and try again."""


class ApiGatewayStore(ABC):
    """Durable REST APIs of one account."""

    # REST APIs ----------------------------------------------------------------------------

    @abstractmethod
    async def create_rest_api(self, api: RestApi) -> None:
        """Insert `api` and its root resource ("/", id `api.root_resource_id`). IdTaken if
        either id is in use."""

    @abstractmethod
    async def get_rest_api(self, api_id: str) -> RestApi | None:
        """The REST API, or None."""

    @abstractmethod
    async def list_rest_apis(self, after_id: str | None, limit: int) -> list[RestApi]:
        """Up to `limit` REST APIs ordered by id, those after `after_id`."""

    @abstractmethod
    async def update_rest_api(self, api_id: str, change: Callable[[RestApi], RestApi]) -> RestApi:
        """Replace the API with `change(api)` (its id and root kept) and return it; NotFoundException
        if there is none."""

    @abstractmethod
    async def delete_rest_api(self, api_id: str) -> bool:
        """Delete the API and everything in it; False if there was none."""

    # Resources ----------------------------------------------------------------------------

    @abstractmethod
    async def create_resource(self, api_id: str, resource_id: str, parent_id: str, path_part: str) -> Resource:
        """Add a child `path_part` (already checked to be a well-formed path part) under the
        resource `parent_id` and return it with its full path. NotFoundException for a missing
        API or parent; BadRequestException under a greedy `{name+}` parent; ConflictException
        when a sibling has the same path part, or when both are variables (`{id}` beside
        `{name}`: one only); IdTaken if `resource_id` is in use."""

    @abstractmethod
    async def get_resource(self, api_id: str, resource_id: str) -> Resource | None:
        """The resource with its methods, or None. NotFoundException for a missing API."""

    @abstractmethod
    async def list_resources(self, api_id: str) -> list[Resource]:
        """Every resource of the API with its methods, ordered by path. NotFoundException for a
        missing API."""

    @abstractmethod
    async def delete_resource(self, api_id: str, resource_id: str) -> bool:
        """Delete the resource, every resource below it and all their methods; False if there was
        none. NotFoundException for a missing API; BadRequestException for the root."""

    # Methods (with their responses and integration) --------------------------------------

    @abstractmethod
    async def put_method(self, api_id: str, resource_id: str, method: Method) -> None:
        """Add `method` to the resource. NotFoundException for a missing API or resource;
        ConflictException if the resource has that method already; BadRequestException if it
        names an authorizer the API does not have."""

    @abstractmethod
    async def get_method(self, api_id: str, resource_id: str, http_method: str) -> Method | None:
        """The method, or None. NotFoundException for a missing API or resource."""

    @abstractmethod
    async def update_method(self, api_id: str, resource_id: str, http_method: str,
                            change: Callable[[Method], Method]) -> Method:
        """Replace the method with `change(method)` (its HTTP method kept) and return it: how
        its integration and responses are put and deleted. NotFoundException for a missing API,
        resource or method; BadRequestException if the result names an authorizer the API does
        not have."""

    @abstractmethod
    async def delete_method(self, api_id: str, resource_id: str, http_method: str) -> bool:
        """Delete the method; False if there was none. NotFoundException for a missing API or
        resource."""

    # Authorizers --------------------------------------------------------------------------

    @abstractmethod
    async def create_authorizer(self, api_id: str, authorizer: Authorizer) -> None:
        """Add `authorizer`. NotFoundException for a missing API; IdTaken if its id is in use."""

    @abstractmethod
    async def get_authorizer(self, api_id: str, authorizer_id: str) -> Authorizer | None:
        """The authorizer, or None. NotFoundException for a missing API."""

    @abstractmethod
    async def list_authorizers(self, api_id: str) -> list[Authorizer]:
        """The API's authorizers ordered by id. NotFoundException for a missing API."""

    @abstractmethod
    async def update_authorizer(self, api_id: str, authorizer_id: str,
                                change: Callable[[Authorizer], Authorizer]) -> Authorizer:
        """Replace the authorizer with `change(authorizer)` (its id kept) and return it.
        NotFoundException for a missing API or authorizer."""

    @abstractmethod
    async def delete_authorizer(self, api_id: str, authorizer_id: str) -> bool:
        """Delete the authorizer; False if there was none. NotFoundException for a missing API;
        BadRequestException while a method names it."""

    # Deployments --------------------------------------------------------------------------

    @abstractmethod
    async def create_deployment(self, api_id: str, deployment: Deployment,
                                stage: StagePlacement | None) -> Deployment:
        """Record `deployment` with a snapshot of the API as it is now (its settings, resources,
        methods, integrations and authorizers), taken in the same transaction, and, with `stage`,
        point that stage at it (made if new, its `last_updated_at_s` the deployment's time).
        NotFoundException for a missing API; BadRequestException when the API has no methods, or
        a method has no integration; IdTaken if the deployment's id is in use."""

    @abstractmethod
    async def get_deployment(self, api_id: str, deployment_id: str) -> Deployment | None:
        """The deployment, or None. NotFoundException for a missing API."""

    @abstractmethod
    async def deployment_snapshot(self, api_id: str, deployment_id: str) -> ApiSnapshot | None:
        """What the deployment froze, or None. NotFoundException for a missing API."""

    @abstractmethod
    async def list_deployments(self, api_id: str, after_id: str | None, limit: int) -> list[Deployment]:
        """Up to `limit` deployments of the API ordered by id, those after `after_id`.
        NotFoundException for a missing API."""

    @abstractmethod
    async def delete_deployment(self, api_id: str, deployment_id: str) -> bool:
        """Delete the deployment; False if there was none. NotFoundException for a missing API;
        BadRequestException while a stage points at it."""

    # Stages -------------------------------------------------------------------------------

    @abstractmethod
    async def create_stage(self, api_id: str, stage: Stage) -> None:
        """Add `stage`. NotFoundException for a missing API or deployment; ConflictException if
        the API has a stage of that name."""

    @abstractmethod
    async def get_stage(self, api_id: str, stage_name: str) -> Stage | None:
        """The stage, or None. NotFoundException for a missing API."""

    @abstractmethod
    async def list_stages(self, api_id: str, deployment_id: str | None) -> list[Stage]:
        """The API's stages ordered by name, only those on `deployment_id` if given.
        NotFoundException for a missing API."""

    @abstractmethod
    async def update_stage(self, api_id: str, stage_name: str, change: Callable[[Stage], Stage]) -> Stage:
        """Replace the stage with `change(stage)` (its name kept) and return it. NotFoundException
        for a missing API, a missing stage, or a deployment the result points at that does not
        exist."""

    @abstractmethod
    async def delete_stage(self, api_id: str, stage_name: str) -> bool:
        """Delete the stage; False if there was none. NotFoundException for a missing API."""

    @abstractmethod
    async def deployed_stage(self, api_id: str, stage_name: str) -> DeployedStage | None:
        """What the stage's URL serves, in one read: the stage (its variables) and its
        deployment's snapshot (resources with paths, methods, integrations, authorizers). None
        when the API or the stage does not exist."""

    @abstractmethod
    async def close(self) -> None:
        """Release the store's connections; nothing acknowledged is lost."""
