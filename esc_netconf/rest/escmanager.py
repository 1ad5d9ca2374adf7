"""The ESCManager REST API (CONTRACT section 4): thin handlers over ``EscCore`` and ``SnapshotManager``.

Each handler reads the path and body into a typed request (``payloads``), registers its callbacks under a
fresh transaction id, calls the core, and answers with the status the contract fixes; the transaction id
goes back in the ``ESC-Transaction-Id`` header and is carried by every event the operation publishes.
Registrations and undelivered events are durable (``callbacks.CallbackService`` over a ``CallbackStore``),
so the events of an operation the core resumes after a restart still reach the request's callbacks.
Refusals are raised, never returned: ``error_middleware`` turns any ``EscError`` into the status chosen
by ``errors.http_status`` and a body in the client's format (``negotiate``), and keeps unexpected
exceptions from leaking a traceback (500, logged).  Routes live under ``/ESCManager/v0``; the middleware
touches nothing else (the admin routes keep their own answers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from uuid import uuid4

from aiohttp import web

from esc_netconf.core.backup import SnapshotManager
from esc_netconf.core.errors import NotFound
from esc_netconf.core.events import EventBus
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.errors import EscError
from esc_netconf.rest import payloads
from esc_netconf.rest.callback_store import CallbackStore, MemoryCallbackStore
from esc_netconf.rest.callback_urls import CallbackUrlError, CallbackUrlPolicy
from esc_netconf.rest.callbacks import CallbackDispatcher, CallbackRegistry, CallbackService, RetryPolicy
from esc_netconf.rest.errors import BadRequest, NotFoundError, http_status
from esc_netconf.rest.negotiate import Format, content_format, preferred_format
from esc_netconf.rest.render import deployments_response, error_response, snapshots_response

__all__ = ["API_KEY", "API_PREFIX", "EscManagerApi", "add_escmanager_routes"]

log = logging.getLogger(__name__)

API_PREFIX = "/ESCManager/v0"
CALLBACK_HEADERS = ("callback", "Callback-ESC-Events")
TRANSACTION_HEADER = "ESC-Transaction-Id"
#: Listings longer than this are rendered in a worker thread, so that a 10,000-snapshot answer (a third
#: of a second of XML building) does not hold the loop that runs the core for all of that time.
RENDER_IN_THREAD_ABOVE = 500

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def response_format(request: web.Request, body: bytes = b"") -> Format:
    """The client's ``Accept`` preference; without one, the format of what it sent; else XML."""
    return (preferred_format(request.headers.get("Accept"))
            or (content_format(request.headers.get("Content-Type"), body) if body else None)
            or Format.XML)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal under ``/ESCManager/v0`` as a status and a reason in the client's format."""
    if not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)
    try:
        return await handler(request)
    except EscError as error:
        status, message = http_status(error)
    except web.HTTPRequestEntityTooLarge as error:
        status, message = error.status, f"The request body is too large: {error.text}"
    except web.HTTPException as error:
        if error.status < 400:
            raise
        response = error_response(error.status, f"{error.reason}: {request.method} {request.path}",
                                  response_format(request))
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        status, message = 500, "Internal error; the server log has the details."
    return error_response(status, message, response_format(request))


@dataclass
class EscManagerApi:
    """The handlers and what they share; one per web application."""

    core: EscCore
    snapshots: SnapshotManager
    callbacks: CallbackService
    url_policy: CallbackUrlPolicy = field(default_factory=CallbackUrlPolicy)

    @property
    def registry(self) -> CallbackRegistry:
        return self.callbacks.registry

    @property
    def dispatcher(self) -> CallbackDispatcher:
        return self.callbacks.dispatcher

    # ---- helpers ----------------------------------------------------------------------------------

    def _require_tenant(self, tenant: str) -> None:
        known = {t.name for t in self.core.tenants()} | {d.tenant for d in self.core.deployments()}
        if tenant not in known:
            raise NotFoundError(f"Tenant [{tenant}] not found.")

    def _callback_urls(self, request: web.Request) -> tuple[str, ...]:
        """The request's callback URLs, checked first of all (``callback_urls``): 400 before any lookup."""
        pairs = [(header, value) for header in CALLBACK_HEADERS for value in request.headers.getall(header, [])]
        try:
            return self.url_policy.urls(pairs)
        except CallbackUrlError as error:
            raise BadRequest(str(error)) from None

    def _transaction(self, urls: tuple[str, ...]) -> str:
        """A new transaction id, registered with the request's callback URLs (if any)."""
        transaction_id = str(uuid4())
        self.registry.register(transaction_id, urls)
        return transaction_id

    def _run(self, transaction_id: str, action: Callable[[], object], dep_id: str | None = None) -> None:
        """Call the core; a refusal forgets the registration.  For a deployment operation the registration
        is finished as soon as the core is no longer busy with ``dep_id`` (at once for the synchronous
        monitoring actions); other transactions finish when their events stop (see ``callbacks``)."""
        try:
            action()
        except BaseException:
            self.registry.forget(transaction_id)
            raise
        if dep_id is None:
            return
        if self.core.is_busy(dep_id):
            self.registry.track(transaction_id, lambda: self.core.is_busy(dep_id))
        else:
            self.registry.finish([transaction_id])

    @staticmethod
    def _accepted(status: int, transaction_id: str) -> web.Response:
        return web.Response(status=status, headers={TRANSACTION_HEADER: transaction_id})

    # ---- deployments ------------------------------------------------------------------------------

    async def service_operation(self, request: web.Request) -> web.Response:
        urls = self._callback_urls(request)
        tenant, deployment = request.match_info["tenant"], request.match_info["deployment"]
        body = await request.read()
        operation = payloads.service_operation(
            payloads.read_fields(body, request.content_type, "service_operation"))
        self._require_tenant(tenant)
        dep = self.core.find_deployment(tenant, deployment)
        transaction_id = self._transaction(urls)
        self._run(transaction_id, lambda: self.core.service_action(
            tenant, deployment, operation.action, transaction_id=transaction_id), dep.dep_id if dep else None)
        return self._accepted(200, transaction_id)

    async def vm_operation(self, request: web.Request) -> web.Response:
        urls = self._callback_urls(request)
        tenant, vm_name = request.match_info["tenant"], request.match_info["vm"]
        body = await request.read()
        operation = payloads.vm_operation(payloads.read_fields(body, request.content_type, "vm_operation"))
        self._require_tenant(tenant)
        vm = self.core.find_vm(vm_name)
        if vm is None or vm.tenant != tenant:
            raise NotFound(f"VM [{vm_name}] not found in tenant [{tenant}].")
        transaction_id = self._transaction(urls)
        self._run(transaction_id, lambda: self.core.vm_action(
            vm.name, operation.action, operation.force, transaction_id=transaction_id), vm.dep_id)
        return self._accepted(200, transaction_id)

    async def list_deployments(self, request: web.Request) -> web.Response:
        tenant = request.query.get("internalTenantId") or None
        return deployments_response(self.core, self.core.deployments(tenant), response_format(request))

    # ---- snapshots --------------------------------------------------------------------------------

    async def create_snapshot(self, request: web.Request) -> web.Response:
        urls = self._callback_urls(request)
        tenant, vm_name = request.match_info["tenant"], request.match_info["vm"]
        body = await request.read()
        snapshot = payloads.snapshot_request(payloads.read_fields(body, request.content_type, "snapshot_operation"))
        self._require_tenant(tenant)
        vm = self.core.find_vm(vm_name)
        if vm is None or vm.tenant != tenant:
            raise NotFound(f"VM [{vm_name}] not found in tenant [{tenant}].")
        transaction_id = self._transaction(urls)
        self._run(transaction_id, lambda: self.snapshots.create_snapshot(
            vm.name, snapshot.name, transaction_id=transaction_id))
        return self._accepted(200, transaction_id)

    async def list_snapshots(self, request: web.Request) -> web.Response:
        tenant, vm_name = _snapshot_filters(request)
        records = self.snapshots.list_snapshots(tenant, vm_name)
        fmt = response_format(request)
        if len(records) > RENDER_IN_THREAD_ABOVE:  # the records are copies: safe off the loop
            return await asyncio.to_thread(snapshots_response, records, fmt)
        return snapshots_response(records, fmt)

    async def delete_snapshot(self, request: web.Request) -> web.Response:
        urls = self._callback_urls(request)
        reference = request.match_info["reference"]
        self.snapshots.get_snapshot(reference)  # 404 / 400 before a transaction is opened
        transaction_id = self._transaction(urls)
        self._run(transaction_id, lambda: self.snapshots.delete_snapshot(reference, transaction_id=transaction_id))
        return self._accepted(200, transaction_id)

    async def create_volume(self, request: web.Request) -> web.Response:
        urls = self._callback_urls(request)
        snapshot_id = request.match_info["snapshot"]
        body = await request.read()
        volume = payloads.volume_request(payloads.read_fields(body, request.content_type, "volume"))
        transaction_id = self._transaction(urls)
        self._run(transaction_id, lambda: self.snapshots.create_volume_from_snapshot(
            snapshot_id, volume.name, volume_type=volume.volume_type, multiattach=volume.multiattach,
            bootable=volume.bootable, transaction_id=transaction_id))
        return self._accepted(202, transaction_id)

    # ---- the description --------------------------------------------------------------------------

    async def openapi(self, request: web.Request) -> web.Response:
        text = resources.files("esc_netconf.rest").joinpath("openapi.yaml").read_text(encoding="utf-8")
        return web.Response(text=text, content_type="application/yaml", charset="utf-8")


API_KEY = web.AppKey("escmanager", EscManagerApi)
"""Where ``add_escmanager_routes`` leaves the ``EscManagerApi`` in the web application."""


_MISSING_AMPERSAND = "-generatedVMName="


def _snapshot_filters(request: web.Request) -> tuple[str | None, str | None]:
    """``internalTenantId`` and ``generatedVMName`` (empty = no filter).

    The seed's own example joins the two parameters with ``-`` instead of ``&``
    (``?internalTenantId=t-generatedVMName=vm``); ``=`` cannot occur in a tenant name, so that spelling is
    read as the two filters it was meant to be.
    """
    tenant = request.query.get("internalTenantId") or None
    vm_name = request.query.get("generatedVMName") or None
    if tenant and vm_name is None and _MISSING_AMPERSAND in tenant:
        tenant, _, vm_name = tenant.partition(_MISSING_AMPERSAND)
    return tenant or None, vm_name or None


def add_escmanager_routes(web_app: web.Application, *, core: EscCore, snapshots: SnapshotManager, bus: EventBus,
                          retry: RetryPolicy = RetryPolicy(), callbacks: CallbackService | None = None,
                          store: CallbackStore | None = None,
                          url_policy: CallbackUrlPolicy | None = None) -> EscManagerApi:
    """Add the ``/ESCManager/v0`` routes and their error middleware to ``web_app`` (before it starts),
    and route the events of REST transactions to their callbacks.

    ``callbacks``: a ``CallbackService`` already started on ``bus`` (the server starts it before the core
    resumes its operations); without one, a service over ``store`` (default: in memory, nothing survives
    a restart) with ``retry`` is made here and started when the web application starts.  Callback
    delivery stops, and the bus subscription ends, when the web application is cleaned up; undelivered
    events stay in the store's outbox for the next start.  ``url_policy`` decides which callback URLs a
    request may name (default: at most 4, any well-formed http(s) host)."""
    if callbacks is None:
        callbacks = CallbackService(store if store is not None else MemoryCallbackStore(), policy=retry)
    service = callbacks
    api = EscManagerApi(core, snapshots, service, url_policy or CallbackUrlPolicy())
    if not service.started:
        async def start(_: web.Application) -> None:
            service.start(bus)

        web_app.on_startup.append(start)
    web_app[API_KEY] = api
    web_app.middlewares.append(error_middleware)
    p = API_PREFIX
    router = web_app.router
    router.add_post(p + "/{tenant}/deployments/service/{deployment}", api.service_operation)
    router.add_post(p + "/{tenant}/deployments/vm/{vm}", api.vm_operation)
    router.add_post(p + "/{tenant}/deployments/snapshot-vm/{vm}", api.create_snapshot)
    router.add_get(p + "/deployments", api.list_deployments)
    router.add_get(p + "/snapshots", api.list_snapshots)
    router.add_delete(p + "/snapshots/{reference}", api.delete_snapshot)
    router.add_post(p + "/snapshots/{snapshot}/volumes", api.create_volume)
    router.add_post(p + "/snapshots/{snapshot}/volume", api.create_volume)
    router.add_get(p + "/openapi.yaml", api.openapi)

    async def cleanup(_: web.Application) -> None:
        await service.close()

    web_app.on_cleanup.append(cleanup)
    return api
