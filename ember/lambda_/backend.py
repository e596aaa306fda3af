"""What the Lambda operation handlers share: their account and limits, store, blobs, runtimes, invoker, async queue
and the change feed they publish on once the store has committed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.arns import FunctionRef, Home, parse_function_ref
from ember.blobs.base import BlobStore
from ember.clock import Clock, SystemClock
from ember.code import package
from ember.code.collector import CodeCollector
from ember.disk_health import DataDiskFull, DiskHealth, is_full_error
from ember.errors import EmberError, InvalidParameterValueException, ResourceNotFoundException
from ember.feed.base import ChangeFeed
from ember.iam.presigned_urls import UrlSigner
from ember.invoke.async_queue import AsyncQueue
from ember.invoke.dispatcher import AsyncTarget
from ember.invoke.invoker import Invoker
from ember.invoke.provisioning import Provisioner
from ember.invoke.scheduler import Scheduler
from ember.lambda_ import wire
from ember.models import Alias, FunctionCode, FunctionConfig
from ember.networks import NetworkRegistry
from ember.runtimes.catalog import Runtime
from ember.store.base import Store

#: raises InvalidParameterValueException for a role Lambda could not assume (the server's, in iam mode)
RoleCheck = Callable[[str], Awaitable[None]]


@dataclass
class LambdaBackend:
    #: the account and region the handlers answer for
    home: Home
    #: Lambda's account-level limit on concurrent executions
    account_concurrency: int
    #: where the server keeps its data, whose disk the handlers watch
    data_dir: Path
    store: Store
    blobs: BlobStore
    runtimes: dict[str, Runtime]
    scheduler: Scheduler
    invoker: Invoker
    provisioner: Provisioner
    #: Event invocations, durable from the 202 until they have run
    async_queue: AsyncQueue
    #: what the handlers committed, told to the scheduler, provisioner and dispatcher
    feed: ChangeFeed
    #: presigns the code download URLs GetFunction and GetLayerVersion answer with
    code_urls: UrlSigner
    #: the operator's VPC networks, which a function's VpcConfig must name
    networks: NetworkRegistry
    #: wall time for what the handlers stamp (an event invoke config's LastModified)
    clock: Clock = field(default_factory=SystemClock)
    #: asked of every role a function is given; None takes any role ARN (open auth)
    role_check: RoleCheck | None = None
    #: deletes zips and unpacked trees nothing uses any more
    collector: CodeCollector = field(init=False)
    #: whether the data disk has room; adding code is refused when it has not
    disk: DiskHealth = field(init=False)

    def __post_init__(self) -> None:
        self.disk = DiskHealth(self.data_dir)
        self.disk.reason()  # makes the reserve a delete may need on a full disk
        self.collector = CodeCollector(self.store, self.blobs, self.invoker.code, self.scheduler.code_dirs_in_use)

    async def check_role(self, role_arn: str) -> None:
        """Refuse a role Lambda could not assume, in AWS's words (when the server checks roles)."""
        if self.role_check is not None:
            await self.role_check(role_arn)

    def arn(self, name: str, qualifier: str | None = None) -> str:
        return self.home.function_arn(name, qualifier)

    def resolve(self, function_name: str, qualifier: str | None = None) -> FunctionRef:
        """The function a FunctionName (+ Qualifier) parameter names; checks the two agree."""
        ref = parse_function_ref(function_name)
        if ref.region and ref.region != self.home.region:
            raise ResourceNotFoundException(
                f"Functions from '{ref.region}' are not reachable in this region ('{self.home.region}')"
            )
        if qualifier is not None and ref.qualifier is not None and qualifier != ref.qualifier:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified qualifier."
            )
        return FunctionRef(ref.name, qualifier or ref.qualifier, ref.region, ref.account_id)

    @contextlib.asynccontextmanager
    async def stored_code(self, code: dict[str, Any] | None, zip_file: bytes | None) -> AsyncIterator[FunctionCode]:
        """Check, keep and unpack (warming the code cache) a deployment package (a function's or a layer's), kept from
        collection until the block is done: commit the record using it inside the block. AWS's
        errors for sources Ember cannot read."""
        if zip_file is None:
            source = code or {}
            if source.get("S3Bucket") or source.get("S3Key"):
                raise InvalidParameterValueException(
                    "Ember has no object storage yet, so S3Bucket/S3Key cannot be read: upload the package "
                    "inline with ZipFile (aws lambda ... --zip-file fileb://function.zip)."
                )
            if source.get("ImageUri"):
                raise InvalidParameterValueException(
                    "Ember runs Zip packages only: container images (ImageUri) are not supported."
                )
            raise InvalidParameterValueException("Please provide a source for function code.")
        self.disk.check_room()
        # Checking, hashing and unpacking can take a while for a 50 MB zip: not on the loop.
        try:
            stored = await asyncio.to_thread(self._store_zip, zip_file)
        except OSError as exc:
            if is_full_error(exc):
                raise DataDiskFull(self.data_dir) from exc
            raise
        try:
            yield stored
        finally:
            self.collector.release(stored.sha256_hex)  # collected unless a record now uses it

    def _store_zip(self, data: bytes) -> FunctionCode:
        info = package.check_zip(data)  # before anything is written
        hashed = hashlib.sha256(data)
        digest = hashed.hexdigest()
        self.collector.pin(digest)
        try:
            self.blobs.put(data, digest)
            # Unpacking checks what check_zip cannot (damaged streams, symlinks that lead outside),
            # and spares the first cold start the work.
            self.invoker.code.warm(digest, data)
        except BaseException:
            self.collector.release(digest)  # refused after storing: its blob is collected
            raise
        return FunctionCode(
            sha256_hex=digest,
            sha256_b64=base64.b64encode(hashed.digest()).decode(),
            size_bytes=len(data),
            unzipped_bytes=info.unzipped_bytes,
        )

    def configuration(self, function: FunctionConfig, qualifier: str | None = None) -> dict[str, Any]:
        """`function` in Lambda's FunctionConfiguration shape, its ARN qualified by `qualifier`."""
        return wire.configuration(function, self.home, qualifier)

    def code_location(self, base_url: str, digest: str) -> str:
        """Where a client downloads the package with this digest: a URL presigned for the server's
        code URL lifetime (GetFunction's Code.Location, GetLayerVersion's Content.Location)."""
        return f"{base_url}/_ember/code/{digest}.zip?{self.code_urls.sign(code_resource(digest)).query}"

    def not_found(self, name: str, qualifier: str | None = None) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"Function not found: {self.arn(name, qualifier)}")

    async def get(self, ref: FunctionRef, *, show_qualifier: bool = False) -> FunctionConfig:
        """The configuration `ref` names — $LATEST, a version, or an alias's primary version —
        or AWS's not-found error (naming the qualifier when `show_qualifier`, or when it is not
        $LATEST)."""
        function, _ = await self.get_with_alias(ref, show_qualifier=show_qualifier)
        return function

    async def get_with_alias(self, ref: FunctionRef, *,
                             show_qualifier: bool = False) -> tuple[FunctionConfig, Alias | None]:
        """As `get`, plus the alias when `ref` names one."""
        qualifier = ref.qualifier
        shown = qualifier if qualifier and (show_qualifier or qualifier != "$LATEST") else None
        latest = await self.store.get_function(ref.name)
        if latest is None:
            raise self.not_found(ref.name, shown)
        if qualifier in (None, "$LATEST"):
            return latest, None
        assert qualifier is not None
        if qualifier.isdigit():
            version = await self.store.get_version(ref.name, qualifier)
            if version is not None:
                return version, None
            raise self.not_found(ref.name, shown)
        alias = await self.store.get_alias(ref.name, qualifier)
        if alias is None:
            raise self.not_found(ref.name, shown)
        target = latest if alias.function_version == "$LATEST" else await self.store.get_version(
            ref.name, alias.function_version)
        if target is None:
            raise self.not_found(ref.name, shown)
        return target, alias

    async def reserved_concurrency(self) -> dict[str, int]:
        """Every function's reserved concurrency, from the store (functions without one left out)."""
        reserved: dict[str, int] = {}
        after = None
        while page := await self.store.list_functions(after, 500):
            reserved.update((f.name, f.reserved_concurrency) for f in page if f.reserved_concurrency is not None)
            after = page[-1].name
        return reserved

    async def unreserved_limit(self) -> int:
        """The account's concurrency that no function has reserved, from the store."""
        return self.account_concurrency - sum((await self.reserved_concurrency()).values())

    async def provisioned_version(self, function_name: str, qualifier: str) -> FunctionConfig | None:
        """The version a provisioned concurrency configuration runs now; None when it is gone."""
        try:
            return await self.get(self.resolve(function_name, qualifier))
        except EmberError:
            return None

    async def pick_version(self, alias: Alias, primary: FunctionConfig) -> FunctionConfig:
        """The version an invocation through `alias` runs: the additional one with its weight."""
        for version, weight in alias.additional_weights.items():
            if random.random() < weight:
                chosen = await self.store.get_version(alias.function_name, version)
                if chosen is not None:
                    return chosen
        return primary

    async def async_target(self, function_name: str, qualifier: str | None) -> AsyncTarget:
        """What a queued Event invocation of `function_name` (and `qualifier`) runs now, with its
        event invoke config; ResourceNotFoundException when the function or qualifier is gone."""
        shown = qualifier or "$LATEST"
        function, alias = await self.get_with_alias(FunctionRef(function_name, shown), show_qualifier=True)
        if alias is not None:
            function = await self.pick_version(alias, function)
        # Reserved concurrency and the recursion setting belong to the function, so it is read from $LATEST.
        latest = function if function.version == "$LATEST" else await self.store.get_function(function_name)
        if latest is None:
            raise self.not_found(function_name)
        config = await self.store.get_event_invoke_config(function_name, shown)
        return AsyncTarget(function, latest.reserved_concurrency, config, self.arn(function_name, shown),
                           latest.recursive_loop)


def code_resource(digest: str) -> str:
    """What a code URL's signature covers: the package's digest."""
    return f"code/{digest}"
