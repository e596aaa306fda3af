"""Assembles a running Ember from Settings: stores, sandbox, scheduler, async queue, services, edge app."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

from ember import __version__
from ember.apigateway_store import open_apigateway_store
from ember.apigateway_store.base import ApiGatewayStore
from ember.arns import Home
from ember.blobs import open_blob_store
from ember.clock import SystemClock
from ember.code.cache import CodeCache
from ember.config import SECRET_SETTINGS, Settings
from ember.dashboard.routes import dashboard_routes
from ember.data_dir import secure_data_dir
from ember.edge.app import EdgeApp
from ember.edge.function_api import FunctionApi
from ember.edge.guard import BrowserGuard
from ember.feed import open_change_feed
from ember.feed.base import ProvisionedConcurrencyChanged
from ember.iam.catalog import load_catalog
from ember.iam.dashboard_sessions import DashboardSessions
from ember.iam.keyring import Keyring
from ember.iam.presigned_urls import UrlSigner
from ember.iam.root_credentials import root_credentials
from ember.iam.sealing import FernetSealer
from ember.iam.session_tokens import SessionTokens
from ember.iam_store import open_iam_store
from ember.iam_store.base import IamStore
from ember.invoke.async_queue import open_async_queue
from ember.invoke.dispatcher import AsyncDispatcher, DispatchPolicy
from ember.invoke.invoker import Invoker
from ember.invoke.provisioning import Provisioner
from ember.invoke.scheduler import Limits, Scheduler
from ember.invoke.specs import EnvironmentPolicy
from ember.lambda_.access import lambda_targets
from ember.lambda_.backend import LambdaBackend
from ember.lambda_.function_url_door import FunctionUrlDoor
from ember.lambda_.service import build_lambda_service
from ember.models import FunctionConfig
from ember.networks import NetworkRegistry
from ember.protocol import HttpRequest, HttpResponse
from ember.runtimes.catalog import Runtime, discover
from ember.sandbox import Sandbox, SandboxUnavailable, choose_sandbox
from ember.sandbox.firewall import LinkLimits
from ember.sandbox.function_network import FunctionNetwork
from ember.sandbox.function_network import unavailable_reason as network_unavailable_reason
from ember.services.access import Authenticator, AuthMode, Gate
from ember.services.apigateway.service import build_apigateway_service
from ember.services.authorization import Authorizer
from ember.services.base import InternalRoute
from ember.services.cloudwatch.service import build_cloudwatch_service
from ember.services.dashboard_access import DashboardDoor
from ember.services.iam.service import build_iam_service
from ember.services.logs.service import build_logs_service
from ember.services.sts.execution_roles import ExecutionRoles
from ember.services.sts.service import build_sts_service
from ember.store import open_store
from ember.telemetry.pipeline import TelemetryPipeline
from ember.telemetry.prometheus import CONTENT_TYPE_LATEST

log = logging.getLogger("ember")


def function_network_of(settings: Settings) -> tuple[FunctionNetwork, str | None]:
    """The function network `settings` ask for, and a warning when the host cannot give it.

    A mode asked for explicitly that this host cannot enforce stops the start (SandboxUnavailable);
    the default mode falls back to `none`, with the warning, so a bare `ember serve` still runs."""
    limits = LinkLimits(settings.function_connections, settings.function_bandwidth_mbit_s)
    mode = settings.function_network
    reason = network_unavailable_reason() if mode != "none" else None
    warning = None
    if reason is not None:
        if "function_network" in settings.sources:
            raise SandboxUnavailable(f"--function-network {mode} cannot be given on this host: {reason}")
        warning = (f"functions get no network but Ember's API (--function-network none): {reason}; "
                   "install it for the default, outbound")
        mode = "none"
    return FunctionNetwork(mode, limits, settings.function_dns), warning


def runtime_entry(runtime: Runtime) -> str | None:
    """What /_ember/health says runs a runtime: its interpreter, or None when it cannot run here."""
    if not runtime.is_available:
        return None
    return str(runtime.interpreter) if runtime.interpreter else "the function's own bootstrap"


class Ember:
    """One Ember server's parts, and the start-up and shutdown checklists that tie them."""

    def __init__(self, settings: Settings, sandbox: Sandbox | None = None, network_warning: str | None = None) -> None:
        self.settings = settings
        if sandbox is None:
            network, network_warning = function_network_of(settings)
            sandbox = choose_sandbox(settings.sandbox, settings.data_dir, network)
        self.sandbox = sandbox
        #: why functions get less network than the settings asked for (None: they get it)
        self.network_warning = network_warning
        #: the operator's VPC networks (`ember network`), read again whenever they change
        self.networks = NetworkRegistry(settings.data_dir)
        self.runtimes = discover(helper_python_needed=self.sandbox.needs_helper_python)
        self.started_monotonic = time.monotonic()
        self.is_ready = False
        self.backend: LambdaBackend | None = None
        self.telemetry: TelemetryPipeline | None = None
        self.dispatcher: AsyncDispatcher | None = None
        self.iam: IamStore | None = None
        self.apigateway: ApiGatewayStore | None = None
        #: Ember's AWS APIs as execution environments reach them (their AWS_ENDPOINT_URL)
        self.function_api: FunctionApi | None = None
        self._grace_deadline: float | None = None  #: monotonic; set when the drain starts
        guard = BrowserGuard(allowed_hosts=settings.allowed_hosts, cors_origins=settings.cors_origins)
        # Health and metrics answer anyone (they show no code, variables or secrets); the async
        # queue's state is the dashboard's, behind its door in iam mode.
        self.app = EdgeApp([], [self._health_route(), self._metrics_route()], settings.region,
                           settings.account_id, lifespan=self, guard=guard, guarded_routes=[self._async_route()])

    @property
    def auth_warning(self) -> str | None:
        """Said at start and on /_ember/health while open auth is reachable from other machines."""
        if self.settings.auth_mode == "open" and not self.settings.is_loopback:
            return (f"INSECURE: --auth open on {self.settings.host}: anyone who can reach port {self.settings.port} "
                    "can run code as Ember. Use --auth iam.")
        return None

    async def startup(self) -> None:
        settings = self.settings
        secure_data_dir(settings.data_dir)
        store_kind, store_options = settings.store_backend
        # The keys every secret is kept under; the master key lives beside the databases, never in them.
        keyring = Keyring.in_data_dir(settings.data_dir)
        store = open_store(store_kind, **store_options, sealer=FernetSealer(keyring))
        clock = SystemClock()  # the one clock every component reads
        scheduler = Scheduler(Limits(settings.account_concurrency, settings.memory_budget_mb), settings.keep_alive_s,
                              clock)
        scheduler.start()
        self.telemetry = TelemetryPipeline(settings.data_dir, scheduler, settings.metrics_retention_s, clock)
        self.telemetry.start()
        blobs = open_blob_store("local", root=settings.code_dir)
        home = Home(settings.region, settings.account_id)
        # Who may call: the account's root key, IAM's users and roles, STS's sessions (functions'
        # execution roles among them).
        self.iam = open_iam_store("sqlite", path=settings.iam_database_path)
        sessions = SessionTokens(keyring, clock)
        mode = AuthMode(settings.auth_mode)
        execution_roles = ExecutionRoles(self.iam, sessions, settings.account_id, clock)
        # Functions reach the same services, behind the same gate, without Ember's own routes: on a
        # listener in each environment's network, or one on the host's loopback where they share it.
        self.function_api = FunctionApi(self.app.function_facing(), settings.header_timeout_s,
                                        settings.body_timeout_s, settings.max_connections)
        host_aws_endpoint = None
        if self.sandbox.shares_host_network:
            host_aws_endpoint = await self.function_api.listen_on_loopback()
        environments = EnvironmentPolicy(home, settings.data_dir, settings.environments_dir,
                                         settings.preimport_modules, settings.parked_per_runtime, host_aws_endpoint,
                                         self.networks)
        # host.ember.internal never reaches Ember itself: its API is on each environment's loopback.
        self.sandbox.network.ember_ports.add(settings.port)
        self.sandbox.network.names_host = self.networks.touches_host
        # Every environment runs as its function's role, in both modes, so code runs the same in each.
        invoker = Invoker(environments, self.sandbox, scheduler, self.runtimes, CodeCache(blobs, settings.unpacked_dir),
                          self.telemetry.recorder, clock, role_credentials=execution_roles.credentials,
                          aws_api=self.function_api.serve)

        async def provisioned_version(function_name: str, qualifier: str) -> FunctionConfig | None:
            assert self.backend is not None
            return await self.backend.provisioned_version(function_name, qualifier)

        provisioner = Provisioner(invoker, scheduler, provisioned_version, clock)
        provisioner.start()
        # Opening the queue puts back in line any event a previous server was running when it died.
        queue_kind, queue_options = settings.queue_backend
        async_queue = open_async_queue(queue_kind, clock=clock, **queue_options)
        # Handlers commit to the store, then tell these what changed.
        feed = open_change_feed("memory")
        feed.subscribe(provisioner.on_change)
        feed.subscribe(scheduler.on_change)
        # In iam mode a function's role must be one Lambda may assume; open mode takes any ARN.
        code_urls = UrlSigner(keyring, clock, settings.code_url_ttl_s)
        self.backend = LambdaBackend(home, settings.account_concurrency,
                                     settings.data_dir, store, blobs, self.runtimes, scheduler, invoker, provisioner,
                                     async_queue, feed, code_urls, self.networks, clock,
                                     role_check=execution_roles.check if mode is AuthMode.IAM else None)
        lambda_service, routes = build_lambda_service(self.backend)
        lambda_service.targets = lambda_targets(self.backend)
        logs_service = build_logs_service(self.telemetry.log_store, self.telemetry.log_writer, settings.region,
                                          settings.account_id, clock)
        root_key = root_credentials(settings.data_dir, settings.root_access_key_id or None,
                                    settings.root_secret_access_key or None)
        authorizer = Authorizer(mode is AuthMode.IAM, self.iam, load_catalog, clock)
        gate = Gate(Authenticator(mode, settings.account_id, root_key, self.iam, sessions, clock), authorizer)
        door = DashboardDoor(gate, DashboardSessions(keyring, clock), settings.region, clock)
        # API Gateway's REST APIs, in their own file: the control plane (invoking them over HTTP is not served yet).
        self.apigateway = open_apigateway_store("sqlite", path=settings.apigateway_database_path,
                                                account_id=settings.account_id)
        for service in (lambda_service, logs_service, build_cloudwatch_service(self.telemetry.metrics, clock),
                        build_iam_service(self.iam, clock, authorizer), build_sts_service(self.iam, sessions),
                        build_apigateway_service(self.apigateway, clock)):
            self.app.services[service.signing_name] = service
        self.app.public_routes.extend(routes)  # code downloads: each checks its own presigned signature
        # A function that calls GetFunction gets a URL on its own endpoint: serve the download there too.
        self.function_api.app.public_routes.extend(routes)
        dashboard = dashboard_routes(scheduler, door)
        self.app.public_routes.extend(dashboard.public)
        self.app.guarded_routes.extend(dashboard.guarded)
        self.app.gate, self.app.door = gate, door
        self.function_api.app.gate = gate
        # Functions' own HTTP endpoints, answered before the AWS APIs (the function-facing app shares them).
        function_urls = FunctionUrlDoor(self.backend)
        function_urls.gate = gate
        self.app.front_doors.append(function_urls)
        # Before any environment starts: zips and trees nothing uses, and what a crash left half made.
        await self.backend.collector.collect_everything()
        policy = DispatchPolicy(settings.async_concurrency, settings.async_retry_delays_s,
                                settings.async_throttle_backoff_s)
        self.dispatcher = AsyncDispatcher(async_queue, invoker, policy, self.backend.async_target, clock)
        feed.subscribe(self.dispatcher.on_change)
        await self._restore_state()
        self.dispatcher.start()
        self._log_banner()
        self.is_ready = True

    async def _restore_state(self) -> None:
        """What the invoke layer caches, loaded from the store (the change feed keeps it from
        here): reserved concurrency into the scheduler and dispatcher; provisioned environments
        started again; environments parked for the runtimes existing functions use."""
        assert self.backend is not None and self.dispatcher is not None
        store = self.backend.store
        reserved = await self.backend.reserved_concurrency()
        self.backend.scheduler.load_reserved(reserved)
        self.dispatcher.load_reserved(reserved)
        parking = self.backend.invoker.parking
        after = None
        while page := await store.list_functions(after, 500):
            for function in page:
                runtime = self.runtimes.get(function.runtime)
                if parking is not None and runtime is not None and runtime.is_available and runtime.can_park:
                    parking.prepare(function.runtime)
            after = page[-1].name
        for config in await store.list_provisioned():
            await self.backend.provisioner.apply(
                ProvisionedConcurrencyChanged(config.function_name, config.qualifier, config.requested))

    def _log_banner(self) -> None:
        log.info("Ember %s, data in %s", __version__, self.settings.data_dir.resolve())
        if self.settings.sources:
            log.info("settings: %s", ", ".join(
                f"{name}={'(hidden)' if name in SECRET_SETTINGS else repr(getattr(self.settings, name))} "
                f"(from {source})" for name, source in sorted(self.settings.sources.items())))
        log.info("auth: %s%s", self.settings.auth_mode, " (every request signed and checked against IAM)"
                 if self.settings.auth_mode == "iam" else " (any credentials accepted, unchecked)")
        if self.auth_warning:
            log.warning("%s", self.auth_warning)
        log.info("sandbox level: %s (%s)", self.sandbox.level, self.sandbox.description)
        if self.sandbox.warning:
            log.warning("%s", self.sandbox.warning)
        network = self._network_health()
        log.info("function network: %s (%s)", network["mode"], network["description"])
        if self.network_warning:
            log.warning("%s", self.network_warning)
        available = [name for name, runtime in self.runtimes.items() if runtime.is_available]
        missing = [name for name, runtime in self.runtimes.items() if not runtime.is_available]
        log.info("runtimes: %s%s", ", ".join(available) or "none",
                 f" (not on this host: {', '.join(missing)})" if missing else "")
        for runtime in self.runtimes.values():
            if runtime.blocked_reason:
                log.warning("runtime %s cannot run here: %s", runtime.name, runtime.blocked_reason)

    async def drain(self, grace_s: float) -> None:
        """Shutdown step 2: let in-flight invokes finish for `grace_s`, then end their environments."""
        if self.backend is None:
            return
        self._grace_deadline = time.monotonic() + grace_s
        if self.dispatcher is not None:
            self.dispatcher.stop_claiming()  # queued events wait for the next start
        await asyncio.sleep(grace_s)
        await self.backend.scheduler.shutdown()

    async def shutdown(self) -> None:
        """Shutdown checklist: stop dispatching, let running Event invocations finish within the
        grace, stop environments, put unfinished events back in line, close the queue and store."""
        self.is_ready = False
        if self.backend is None:
            return
        dispatcher = self.dispatcher
        if dispatcher is not None:
            dispatcher.stop_claiming()
            # Event invocations have no connection for uvicorn to wait on: they get what is left
            # of the grace here, rather than being killed as soon as the last connection closes.
            deadline = self._grace_deadline or time.monotonic() + self.settings.shutdown_grace_s
            await dispatcher.wait_idle(deadline - time.monotonic())
        await self.backend.provisioner.shutdown()
        if self.backend.invoker.parking is not None:
            await self.backend.invoker.parking.close()
        await self.backend.scheduler.shutdown()
        if self.function_api is not None:
            await self.function_api.close()  # once no environment is left to call it
        if dispatcher is not None:
            await dispatcher.shutdown()
        await self.backend.async_queue.close()
        await self.backend.feed.close()
        if self.telemetry is not None:
            await self.telemetry.close()  # the logs and metrics of every finished invocation
        await self.backend.store.close()
        if self.iam is not None:
            await self.iam.close()
        if self.apigateway is not None:
            await self.apigateway.close()
        self.sandbox.close()
        log.info("Ember stopped")

    def _health_route(self) -> InternalRoute:
        async def health(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
            disk_problem = self.backend.disk.reason() if self.backend and self.is_ready else None
            document = {
                "status": "degraded" if disk_problem else "ready" if self.is_ready else "starting",
                "version": __version__,
                "sandbox": {"level": self.sandbox.level, "description": self.sandbox.description,
                            "warning": self.sandbox.warning},
                "uptime_s": round(time.monotonic() - self.started_monotonic, 3),
                "runtimes": {name: runtime_entry(r) for name, r in self.runtimes.items()},
                "environments": self.backend.scheduler.environment_count if self.backend else 0,
                "auth": {"mode": self.settings.auth_mode, "warning": self.auth_warning},
                "function_network": self._network_health(),
            }
            if disk_problem:
                document["reason"] = disk_problem  # still serving (deletes free space), so still 200
            return HttpResponse(200 if self.is_ready else 503, [("content-type", "application/json")],
                                json.dumps(document).encode())

        return ("GET", re.compile(r"^/_ember/health/?$"), health)

    def _network_health(self) -> dict[str, Any]:
        network = self.sandbox.network
        enforced = not self.sandbox.shares_host_network
        return {"mode": network.mode if enforced else "host network (not enforced)",
                "description": network.describe() if enforced else "functions share this host's network",
                "enforced": enforced, "warning": self.network_warning,
                "connections_per_environment": network.limits.connections,
                "bandwidth_mbit_s_per_environment": network.limits.bandwidth_mbit_s,
                "dns": list(network.resolvers) if enforced else [],
                "vpc_networks": sorted(self.networks.networks()) if self.is_ready else []}

    def _metrics_route(self) -> InternalRoute:
        async def metrics(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
            if self.telemetry is None:
                return HttpResponse(503, [("content-type", "text/plain")], b"Ember is starting\n")
            return HttpResponse(200, [("content-type", CONTENT_TYPE_LATEST)], self.telemetry.prometheus.render())

        return ("GET", re.compile(r"^/metrics/?$"), metrics)

    def _async_route(self) -> InternalRoute:
        async def async_status(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
            if self.backend is None:
                return HttpResponse(503, [("content-type", "application/json")],
                                    json.dumps({"message": "Ember is starting"}).encode())
            now_ms = time.time() * 1000
            functions: list[dict[str, Any]] = [
                {"function_name": d.function_name, "depth": d.depth, "running": d.running, "delayed": d.delayed,
                 "oldest_age_s": round(max(0.0, now_ms - d.oldest_enqueued_at_ms) / 1000, 3)}
                for d in await self.backend.async_queue.depths()]
            document = {
                "dispatching": self.dispatcher is not None and self.dispatcher.is_claiming,
                "total_depth": sum(f["depth"] for f in functions),
                "functions": functions,
            }
            return HttpResponse(200, [("content-type", "application/json")], json.dumps(document).encode())

        return ("GET", re.compile(r"^/_ember/async/?$"), async_status)
