"""The NETCONF server: sessions, the running lock, and the table that maps operations to handlers.

It lives on the asyncio loop thread. A connection (``connection.py``) hands it one ``<rpc>`` at a time;
:meth:`NetconfServer.serve_rpc` looks up the operation's qualified name in a dispatch table (asyncssh's
``_packet_handlers`` shape, not an if/elif chain), runs the handler, and queues exactly one reply. The
base operations live in ``base_operations.py``; anything else (the ESC RPCs) is registered by the
northbound with :meth:`register_rpc`; its input is validated against the YANG model first and the
handler receives it with the model's defaults filled in. An operation registered with ``in_edit_config``
is also accepted as the content of an ``<edit-config>``'s ``<config>`` (some controllers' clients send
their actions that way); it then runs through the same validation and handler as the ``<rpc>`` form.
"""

from __future__ import annotations

import itertools
import logging
import threading
from datetime import datetime, timezone
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from lxml import etree

from esc_netconf.netconf.base_operations import CachedAnswer, RpcHandler, StateBuild, register_base_operations
from esc_netconf.netconf.capabilities import PROTOCOL_CAPABILITIES
from esc_netconf.netconf.context import ServerCounters, SessionContext, TerminationReason
from esc_netconf.netconf.errors import ErrorTag, ErrorType, NetconfError
from esc_netconf.netconf.framing import PartialBuffers
from esc_netconf.netconf.messages import BadRpc, Rpc
from esc_netconf.netconf.nc_notifications import session_event
from esc_netconf.netconf.session import SerializedBody
from esc_netconf.netconf.yanglibrary import YangLibrary

if TYPE_CHECKING:
    from esc_netconf.netconf.datastore import Datastore
    from esc_netconf.netconf.filters import FilterSpec
    from esc_netconf.netconf.subscriptions import NotificationHub
    from esc_netconf.netconf.yangmodel import YangModel

log = logging.getLogger("esc_netconf.netconf.server")

StateProvider = Callable[["FilterSpec | None"], Iterable[StateBuild]]
"""Takes a snapshot of ``config false`` data for a ``get`` and returns what adds it to the get's ``<data>``
(:data:`StateBuild`); given the get's filter, it may leave out what the filter cannot reach
(``filters.list_scope``), since the filter runs on its result anyway."""


class NetconfServer:
    """Dispatch, session registry and the running-datastore lock. Loop thread only, except
    :meth:`allocate_session_id` and :meth:`capabilities`, which transports call from their threads."""

    def __init__(
        self,
        model: YangModel,
        datastore: Datastore,
        hub: NotificationHub,
        *,
        max_message_size: int = 64 * 2**20,
    ) -> None:
        self.model = model
        self.datastore = datastore
        self.hub = hub
        self.max_message_size = max_message_size
        self.partial_buffers = PartialBuffers()
        self.sessions: dict[int, SessionContext] = {}
        self.lock_holder: int | None = None
        self.started = datetime.now(timezone.utc)
        self._ids = itertools.count(1)
        self._ids_lock = threading.Lock()
        self._handlers: dict[str, RpcHandler] = {}
        self._cached_answers: dict[str, CachedAnswer] = {}
        # a subclass that screens operations (an HA standby reloads first, or refuses) sees every RPC
        self._answers_from_cache = type(self).run_operation is NetconfServer.run_operation
        self._counters_lock = threading.Lock()  # in_rpcs is also counted on transport threads
        self._model_rpcs: set[str] = set()
        self._config_operations: set[str] = set()
        self._state_providers: list[StateProvider] = []
        self.library = YangLibrary(model.modules)
        self._capabilities = [*PROTOCOL_CAPABILITIES, self.library.capability(), *model.capabilities()]
        self.stats = ServerCounters()
        register_base_operations(self)

    # -- registration -------------------------------------------------------------------------------

    def register_rpc(
        self, qname: str, handler: RpcHandler, *, validate_input: bool = True, in_edit_config: bool = False
    ) -> None:
        """Add an operation, keyed by its Clark name (``{namespace}local-name``).

        With ``validate_input`` (the default) and an RPC the YANG model defines, the input is validated and
        completed with its defaults before the handler runs. The protocol's own operations check their
        parameters themselves (their inputs hold anyxml and choices the model cannot complete).
        With ``in_edit_config``, the operation element may also arrive as the content of an
        ``<edit-config>``'s ``<config>``; its handler must answer ``<ok/>`` (return ``None``).
        """
        self._handlers[qname] = handler
        if validate_input and self.model.has_rpc(qname):
            self._model_rpcs.add(qname)
        if in_edit_config:
            self._config_operations.add(qname)

    def register_cached_answer(self, qname: str, answer: CachedAnswer) -> None:
        """Let transport threads answer the read-only operation ``qname`` themselves when ``answer`` has
        its reply at hand (see :meth:`cached_answer`)."""
        self._cached_answers[qname] = answer

    def cached_answer(self, operation: etree._Element) -> SerializedBody | None:
        """The kept reply body of a read-only ``operation``, or None (then it goes through
        :meth:`serve_rpc`). Any thread. A server whose ``run_operation`` is overridden never answers here."""
        if not self._answers_from_cache:
            return None
        answer = self._cached_answers.get(operation.tag if isinstance(operation.tag, str) else "")
        return answer(operation) if answer is not None else None

    def count_rpc(self, ctx: SessionContext) -> None:
        """Count one RPC of ``ctx`` (RFC 6022 statistics). Any thread: the transport thread counts the
        RPCs it answers from the cache, the loop the others."""
        ctx.counters.in_rpcs += 1
        with self._counters_lock:
            self.stats.in_rpcs += 1

    def add_state_provider(self, provider: StateProvider) -> None:
        """Add a source of ``config false`` data for ``get`` (added beside the configuration, into its top-level
        containers)."""
        self._state_providers.append(provider)

    def state_builds(self, spec: FilterSpec | None = None) -> list[StateBuild]:
        return [build for provider in self._state_providers for build in provider(spec)]

    def capabilities(self) -> list[str]:
        return list(self._capabilities)

    def allocate_session_id(self) -> int:
        with self._ids_lock:
            return next(self._ids)

    # -- session lifecycle ------------------------------------------------------------------------

    async def session_established(self, ctx: SessionContext, client_capabilities: Sequence[str]) -> None:
        ctx.established = True
        self.sessions[ctx.session_id] = ctx
        self.stats.in_sessions += 1
        log.info("session %d established for %s from %s", ctx.session_id, ctx.username, ctx.source_host)
        self._publish_session_event("netconf-session-start", ctx)

    def session_ended(self, ctx: SessionContext, reason: TerminationReason) -> None:
        if self.sessions.pop(ctx.session_id, None) is None:
            if not ctx.established:
                self.stats.in_bad_hellos += 1
            return
        if self.lock_holder == ctx.session_id:
            self.lock_holder = None
        if ctx.subscription is not None:
            ctx.subscription.cancel()
            ctx.subscription = None
        if reason is TerminationReason.DROPPED:
            self.stats.dropped_sessions += 1
        log.info("session %d ended (%s)", ctx.session_id, reason.value)
        self._publish_session_event("netconf-session-end", ctx, reason)

    def _publish_session_event(
        self, name: str, ctx: SessionContext, reason: TerminationReason | None = None
    ) -> None:
        self.hub.publish("NETCONF", session_event(name, ctx, reason))

    # -- dispatch ---------------------------------------------------------------------------------

    async def serve_rpc(self, ctx: SessionContext, rpc: Rpc) -> None:
        """Run one operation and queue its reply (the connection waits for this to return)."""
        self.count_rpc(ctx)
        qname = rpc.operation.tag if isinstance(rpc.operation.tag, str) else ""
        try:
            body = await self.run_operation(ctx, rpc.operation)
        except NetconfError as error:
            self._reply_error(ctx, rpc, error)
            return
        except Exception:
            log.exception("operation %s failed on session %d", qname, ctx.session_id)
            self._reply_error(ctx, rpc, NetconfError(
                ErrorTag.OPERATION_FAILED, "The server failed to carry out the operation; see its log."
            ))
            return
        ctx.transport.reply(rpc.attributes, body)
        action, ctx.after_reply = ctx.after_reply, None
        if action is not None:
            action()

    async def run_operation(
        self, ctx: SessionContext, operation: etree._Element
    ) -> list[etree._Element] | SerializedBody | None:
        """Validate ``operation`` (when the model defines it) and run its handler: the one path of an
        operation, whether it came as an ``<rpc>`` or inside an ``<edit-config>``."""
        qname = operation.tag if isinstance(operation.tag, str) else ""
        handler = self._handlers.get(qname)
        if handler is None:
            raise self._unsupported(operation)
        if qname in self._model_rpcs:
            operation = self.model.rpc_input_with_defaults(operation)
        return await handler(ctx, operation)

    def config_operation(self, config: etree._Element) -> etree._Element | None:
        """The operation an ``<edit-config>``'s ``<config>`` carries instead of data, if it carries one.

        :raises NetconfError: when such an operation shares the ``<config>`` with anything else: it is
            one operation or data, so that nothing is half done.
        """
        children = [c for c in config if isinstance(c.tag, str)]
        operations = [c for c in children if c.tag in self._config_operations]
        if not operations:
            return None
        operation = operations[0]
        if len(children) > 1:
            names = ", ".join(etree.QName(c).localname for c in children)
            other = next(c for c in children if c is not operation)
            raise NetconfError(
                ErrorTag.BAD_ELEMENT,
                f"An edit-config that carries the operation '{etree.QName(operation).localname}' must carry "
                f"nothing else; this one holds: {names}.",
                info={"bad-element": etree.QName(other).localname},
            )
        return operation

    def _reply_error(self, ctx: SessionContext, rpc: Rpc | BadRpc, error: NetconfError) -> None:
        ctx.counters.out_rpc_errors += 1
        self.stats.out_rpc_errors += 1
        ctx.after_reply = None
        ctx.transport.reply_error(rpc.attributes, error)

    async def serve_bad_rpc(self, ctx: SessionContext, bad: BadRpc) -> None:
        ctx.counters.in_bad_rpcs += 1
        self.stats.in_bad_rpcs += 1
        self._reply_error(ctx, bad, bad.error)

    def _unsupported(self, operation: etree._Element) -> NetconfError:
        qname = etree.QName(operation)
        message = f"The operation '{qname.localname}' in namespace '{qname.namespace}' is not supported."
        return NetconfError(
            ErrorTag.OPERATION_NOT_SUPPORTED,
            message,
            type=ErrorType.PROTOCOL,
            info={"bad-element": qname.localname},
        )

    # -- used by handlers -------------------------------------------------------------------------

    def after_reply(self, ctx: SessionContext, action: Callable[[], None]) -> None:
        """Run ``action`` on the loop right after the current RPC's reply is queued."""
        ctx.after_reply = action

    def terminate_session(self, target: SessionContext, killed_by: int) -> None:
        target.killed_by = killed_by
        target.transport.terminate(TerminationReason.KILLED)

