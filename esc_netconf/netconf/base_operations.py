"""The RFC 6241 / 5277 / 6022 operations, one handler each, registered in the server's dispatch table.

Each handler reads its parameters from the operation element, checks them, and either returns the reply
body (``None`` for ``<ok/>``) or raises :class:`NetconfError`. Only ``running`` exists: ``candidate`` and
``startup`` are not advertised, so naming them is an ``invalid-value`` rather than a silent fallback.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Protocol

from lxml import etree

from esc_netconf.netconf.nc_notifications import Change, changes, config_change_event, config_edits
from esc_netconf.netconf.context import ServerCounters, SessionContext
from esc_netconf.netconf.errors import ErrorTag, ErrorType, NetconfError
from esc_netconf.netconf.filters import FilterSpec, copy_within_reach, filter_data, parse_filter, reaches, top_reach
from esc_netconf.netconf.monitoring import netconf_state
from esc_netconf.netconf.placeholders import Placeholders
from esc_netconf.netconf.reply_cache import ReplyCache, operation_key
from esc_netconf.netconf.session import SerializedBody, serialize_body
from esc_netconf.nsmap import default_namespace

if TYPE_CHECKING:
    from esc_netconf.netconf.datastore import Datastore
    from esc_netconf.netconf.subscriptions import NotificationHub
    from esc_netconf.netconf.yangmodel import YangModel
    from esc_netconf.netconf.yanglibrary import YangLibrary

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
NOTIF_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"
MONITORING_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"

RpcHandler = Callable[[SessionContext, etree._Element], Awaitable[list[etree._Element] | SerializedBody | None]]
"""An operation's handler: the reply body (``None`` for ``<ok/>``; already serialized, or elements), or it
raises :class:`NetconfError`."""

CachedAnswer = Callable[[etree._Element], SerializedBody | None]
"""Gives the kept answer to a read-only operation, or None; called on a transport thread, so it only
reads what is safe to read from there (see :meth:`BaseOperations.cached_get_config`)."""

INLINE_SERIALIZE_BYTES = 256 * 2**10
"""A get-config answer whose previous one was larger than this is built in a worker thread, not on the loop."""

StateBuild = Callable[[etree._Element, Placeholders], Awaitable[None]]
"""Adds ``config false`` data to a ``get``'s ``<data>`` tree (beside the configuration, into its top-level
container when it has one) from a snapshot its state provider took; it may let the loop run other work
between slices of a large build, since it reads only its snapshot. Where the get's filter takes entries
whole, it may add stand-ins whose content the ``Placeholders`` splice into the reply as bytes."""

INLINE_SPLICES = 64
"""A get reply with at most this many placeholders is serialized on the loop; a larger one in a worker thread."""


DISCARD_SLICE_SECONDS = 0.005
"""Freeing a large ``<data>`` tree lets the loop run other work after this long (see :func:`discard_in_slices`)."""

_LARGER_THAN_A_PIECE = etree.XPath("boolean(descendant::node()[5001])")
"""Whether a subtree is freed child by child rather than at once (5,000 nodes take lxml well under 1 ms);
libxml2 stops at the 5,001st node, so asking costs little even of a tree of 300,000."""


async def discard_in_slices(tree: etree._Element) -> None:
    """Free ``tree`` a piece at a time, letting the loop run in between. lxml frees a tree in one C call with
    the GIL held, so dropping all opdata built as elements (some 300,000 of them at 10,000 VMs, for a filter
    that looks inside the deployments) held every thread for tens of milliseconds; a removed subtree that no
    Python object refers to is freed at once, so removing the subtrees of a few thousand nodes one by one
    frees it in small steps."""
    started = time.perf_counter()
    stack = [tree]
    while stack:
        node = stack[-1]
        if not len(node):
            stack.pop()
            continue
        child = node[-1]
        if _LARGER_THAN_A_PIECE(child):
            stack.append(child)
            continue
        node.remove(child)
        del child  # the last reference: lxml frees the subtree now
        if time.perf_counter() - started >= DISCARD_SLICE_SECONDS:
            await asyncio.sleep(0)
            started = time.perf_counter()


class OperationsHost(Protocol):
    """What the base operations need of the server that registers them.

    :class:`~esc_netconf.netconf.server.NetconfServer` satisfies it structurally; naming it here instead
    of importing the server keeps the modules free of an import circle (the server imports this one).
    """

    model: YangModel
    datastore: Datastore
    hub: NotificationHub
    library: YangLibrary
    sessions: dict[int, SessionContext]
    lock_holder: int | None
    started: datetime
    stats: ServerCounters

    def capabilities(self) -> list[str]: ...

    def state_builds(self, spec: FilterSpec | None = None) -> list[StateBuild]: ...

    def register_rpc(
        self, qname: str, handler: RpcHandler, *, validate_input: bool = True, in_edit_config: bool = False
    ) -> None: ...

    def register_cached_answer(self, qname: str, answer: CachedAnswer) -> None: ...

    async def run_operation(
        self, ctx: SessionContext, operation: etree._Element
    ) -> list[etree._Element] | SerializedBody | None: ...

    def config_operation(self, config: etree._Element) -> etree._Element | None: ...

    def after_reply(self, ctx: SessionContext, action: Callable[[], None]) -> None: ...

    def terminate_session(self, target: SessionContext, killed_by: int) -> None: ...


EDIT_DEFAULT_OPERATIONS = ("merge", "replace", "none")
EDIT_TEST_OPTIONS = ("test-then-set", "set", "test-only")
EDIT_ERROR_OPTIONS = ("stop-on-error", "continue-on-error", "rollback-on-error")


def _b(name: str) -> str:
    return f"{{{BASE_NS}}}{name}"


def _child(op: etree._Element, name: str, ns: str = BASE_NS) -> etree._Element | None:
    """A parameter of an operation; unqualified ones count as the operation's namespace.

    ncclient passes a caller's ``<config xmlns:xc="...">`` or ``<filter type="subtree">`` string through as
    it is, without a default namespace; RFC 6241 clients in the wild rely on servers accepting that.
    """
    found = op.find(f"{{{ns}}}{name}")
    return found if found is not None else op.find(name)


def _only_parameters(op: etree._Element, allowed: frozenset[str], ns: str = BASE_NS) -> None:
    """Refuse a parameter the operation does not define, instead of silently ignoring it."""
    for child in op:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        if qname.localname not in allowed or qname.namespace not in (None, ns):
            raise NetconfError(
                ErrorTag.UNKNOWN_ELEMENT,
                f"'{etree.QName(op).localname}' has no parameter <{qname.localname}>"
                + (f" in namespace '{qname.namespace}'." if qname.namespace else "."),
                type=ErrorType.PROTOCOL,
                info={"bad-element": qname.localname},
            )


def _required(op: etree._Element, name: str, ns: str = BASE_NS) -> etree._Element:
    element = _child(op, name, ns)
    if element is None:
        raise NetconfError(
            ErrorTag.MISSING_ELEMENT,
            f"'{etree.QName(op).localname}' needs a <{name}> parameter.",
            type=ErrorType.PROTOCOL,
            info={"bad-element": name},
        )
    return element


def _text_choice(op: etree._Element, name: str, allowed: tuple[str, ...], default: str) -> str:
    element = _child(op, name)
    if element is None:
        return default
    value = (element.text or "").strip()
    if value not in allowed:
        raise NetconfError(
            ErrorTag.INVALID_VALUE,
            f"<{name}> must be one of {', '.join(allowed)}, not '{value}'.",
            type=ErrorType.PROTOCOL,
            info={"bad-element": name},
        )
    return value


def _datastore_name(op: etree._Element, param: str, *, allow_config: bool = False) -> str:
    """The datastore named in ``<source>``/``<target>``: only ``running`` (or inline ``config``)."""
    holder = _required(op, param)
    choices = [etree.QName(child).localname for child in holder if isinstance(child.tag, str)]
    if len(choices) != 1:
        raise NetconfError(
            ErrorTag.MISSING_ELEMENT if not choices else ErrorTag.BAD_ELEMENT,
            f"<{param}> must name exactly one datastore.",
            type=ErrorType.PROTOCOL,
            info={"bad-element": param},
        )
    name = choices[0]
    if name == "running" or (allow_config and name == "config"):
        return name
    if name == "url":
        raise NetconfError(
            ErrorTag.OPERATION_NOT_SUPPORTED,
            "The :url capability is not supported.",
            type=ErrorType.PROTOCOL,
            info={"bad-element": "url"},
        )
    raise NetconfError(
        ErrorTag.INVALID_VALUE,
        f"The datastore '{name}' does not exist here; only 'running' is supported.",
        type=ErrorType.PROTOCOL,
        info={"bad-element": name},
    )


class BaseOperations:
    """Handlers of the base operations; bound to one server."""

    def __init__(self, server: OperationsHost) -> None:
        self.server = server
        self.get_config_cache = ReplyCache()
        self._last_get_config_size = 0
        #: The last edit's changes (``(old, new, changes)``), found where the datastore prepares it: a worker
        #: thread for a big edit (a bulk edit of 100 deployments among 2,000 took milliseconds on the loop).
        self._found: tuple[etree._Element, etree._Element, list[Change]] | None = None
        server.datastore.add_commit_preparer(self._find_changes)
        self._discarding: set[asyncio.Task[None]] = set()  # get trees being freed after their replies

    def _find_changes(self, old: etree._Element, new: etree._Element, touched: frozenset[etree._Element]) -> None:
        """The datastore's preparer: it runs for every edit that changes something, before its commit (edits
        are one at a time), so what it leaves is the committed edit's own when ``edit_config`` reads it."""
        self._found = (old, new, changes(old, new, self.server.model, touched))

    def _check_not_locked_by_other(self, ctx: SessionContext) -> None:
        holder = self.server.lock_holder
        if holder is not None and holder != ctx.session_id:
            raise NetconfError(
                ErrorTag.IN_USE,
                f"The running datastore is locked by session {holder}.",
                type=ErrorType.PROTOCOL,
                info={"session-id": str(holder)},
            )

    def _list_keys(self, path: Sequence[str]) -> Sequence[str]:
        """List keys for the filters, so selected entries keep their keys (RFC 6241 6.2.5)."""
        node = self.server.model.node(path)
        return node.keys if node is not None else ()

    async def get(self, ctx: SessionContext, op: etree._Element) -> list[etree._Element] | SerializedBody:
        _only_parameters(op, frozenset({"filter"}))
        spec = parse_filter(_child(op, "filter"))
        server = self.server
        # What the reply shows is read in one go (no await in between), so it is one state: the running tree
        # and the state providers' snapshots; the state is then built from its snapshots, in slices with other
        # work in between (300,000 elements for all opdata at 10,000 VMs). Only what the filter can reach is
        # copied, read and built; the filter then gives the same result as on everything. Entries the filter takes
        # whole may be stand-ins whose bytes the reply splices in (``placeholders``): no tree of all of them.
        reach = top_reach(spec)
        data = copy_within_reach(server.datastore.running, reach)
        builds = server.state_builds(spec)
        small: list[etree._Element] = []
        if reaches(reach, "netconf-state"):
            small.append(netconf_state(capabilities=server.capabilities(), modules=server.model.modules,
                                       sessions=server.sessions, lock_holder=server.lock_holder, stats=server.stats,
                                       started=server.started))
        if reaches(reach, "netconf"):
            small.append(server.hub.streams_element())
        if reaches(reach, "yang-library") or reaches(reach, "modules-state"):
            small.extend(server.library.elements())
        placeholders = Placeholders()
        for build in builds:
            await build(data, placeholders)
        data.extend(small)
        spliced = bool(placeholders) and not placeholders.needs_elements
        if placeholders.needs_elements:  # the filter looks inside the entries: it gets them as elements
            small_enough = len(placeholders) <= INLINE_SPLICES
            data = placeholders.elements(data) if small_enough else await asyncio.to_thread(placeholders.elements, data)
        if spec is None:
            result = data
        else:
            result = await filter_data(data, spec, keys=self._list_keys)
            if not spliced:  # the entries are elements here: maybe all of them
                self._discard_after_reply(data)
        if not spliced:
            return [result]
        if len(placeholders) <= INLINE_SPLICES:
            return placeholders.serialize(result)
        return await asyncio.to_thread(placeholders.serialize, result)

    def _discard_after_reply(self, tree: etree._Element) -> None:
        """Free ``tree`` in slices (:func:`discard_in_slices`) in a task of its own, so the reply need not
        wait for it (a tree of all opdata takes some 100 ms of small steps)."""
        task = asyncio.get_running_loop().create_task(discard_in_slices(tree), name="netconf-get-discard")
        self._discarding.add(task)
        task.add_done_callback(self._discarding.discard)

    async def get_config(self, ctx: SessionContext, op: etree._Element) -> SerializedBody:
        """The answer is serialized here and kept in :attr:`get_config_cache` (see ``reply_cache``): a
        repeated ``get-config`` of the same configuration is a byte copy, served by
        :meth:`cached_get_config` without a trip through the loop when the session is idle."""
        datastore = self.server.datastore
        generation, key = datastore.generation, operation_key(op)
        cached = self.get_config_cache.get(generation, key)
        if cached is not None:
            return cached
        _only_parameters(op, frozenset({"source", "filter"}))
        _datastore_name(op, "source")
        spec = parse_filter(_child(op, "filter"))
        inline = self._last_get_config_size <= INLINE_SERIALIZE_BYTES
        with datastore.reading() as tree:  # a worker thread may read it while the next edit begins
            if spec is None:
                # copy and serialize in one go; a large tree off the loop
                answer = _copy_and_serialize(tree) if inline else await asyncio.to_thread(_copy_and_serialize, tree)
            else:
                data = await filter_data(copy.deepcopy(tree), spec, keys=self._list_keys)
                answer = serialize_body([data]) if inline else await asyncio.to_thread(serialize_body, [data])
        self._last_get_config_size = len(answer.data)
        if datastore.generation == generation:  # still the configuration it shows
            self.get_config_cache.put(generation, key, answer)
        return answer

    def cached_get_config(self, op: etree._Element) -> SerializedBody | None:
        """The kept answer to this ``get-config`` for the running configuration of this moment, or None.
        Any thread (a transport thread asks before it hands the RPC to the loop)."""
        return self.get_config_cache.get(self.server.datastore.generation, operation_key(op))

    async def edit_config(self, ctx: SessionContext, op: etree._Element) -> None:
        _only_parameters(op, frozenset({"target", "default-operation", "test-option", "error-option", "config", "url"}))
        _datastore_name(op, "target")
        default_operation = _text_choice(op, "default-operation", EDIT_DEFAULT_OPERATIONS, "merge")
        test_option = _text_choice(op, "test-option", EDIT_TEST_OPTIONS, "test-then-set")
        error_option = _text_choice(op, "error-option", EDIT_ERROR_OPTIONS, "stop-on-error")
        if _child(op, "url") is not None:
            raise NetconfError(
                ErrorTag.OPERATION_NOT_SUPPORTED,
                "The :url capability is not supported.",
                type=ErrorType.PROTOCOL,
                info={"bad-element": "url"},
            )
        config = _required(op, "config")
        operation = self.server.config_operation(config)
        if operation is not None:
            # An action sent as configuration (ESC's guides do this): it changes no datastore, so the
            # running lock does not apply, exactly as for the same action sent as an <rpc>.
            if test_option == "test-only":
                self.server.model.validate_rpc_input(operation)
            else:
                await self.server.run_operation(ctx, operation)
            return None
        self._check_not_locked_by_other(ctx)
        result = await self.server.datastore.edit_off_loop(
            config,
            default_operation=default_operation,
            test_option=test_option,
            error_option=error_option,
        )
        found, self._found = self._found, None
        if result.committed and result.previous is not None and result.current is not None:
            known = found[2] if found is not None and found[0] is result.previous and found[1] is result.current \
                else None
            edits = config_edits(result.previous, result.current, config, default_operation, self.server.model,
                                 result.touched, found=known)
            self.server.hub.publish("NETCONF", config_change_event(ctx, edits))
        return None

    async def lock(self, ctx: SessionContext, op: etree._Element) -> None:
        _only_parameters(op, frozenset({"target"}))
        _datastore_name(op, "target")
        holder = self.server.lock_holder
        if holder is not None:
            raise NetconfError(
                ErrorTag.LOCK_DENIED,
                f"Lock failed: the running datastore is already locked by session {holder}.",
                type=ErrorType.PROTOCOL,
                info={"session-id": str(holder)},
            )
        self.server.lock_holder = ctx.session_id
        ctx.lock_time = datetime.now(timezone.utc)
        return None

    async def unlock(self, ctx: SessionContext, op: etree._Element) -> None:
        _only_parameters(op, frozenset({"target"}))
        _datastore_name(op, "target")
        holder = self.server.lock_holder
        if holder != ctx.session_id:
            raise NetconfError(
                ErrorTag.OPERATION_FAILED,
                "Unlock failed: the running datastore is not locked."
                if holder is None
                else f"Unlock failed: the lock is held by session {holder}, not this one.",
                type=ErrorType.PROTOCOL,
                info={"session-id": str(holder)} if holder is not None else None,
            )
        self.server.lock_holder = None
        ctx.lock_time = None
        return None

    async def close_session(self, ctx: SessionContext, op: etree._Element) -> None:
        self.server.after_reply(ctx, ctx.transport.close_after_reply)
        return None

    async def kill_session(self, ctx: SessionContext, op: etree._Element) -> None:
        _only_parameters(op, frozenset({"session-id"}))
        raw = (_required(op, "session-id").text or "").strip()
        if not raw.isdigit():
            raise NetconfError(
                ErrorTag.INVALID_VALUE,
                f"session-id must be a positive integer, not '{raw}'.",
                type=ErrorType.PROTOCOL,
                info={"bad-element": "session-id"},
            )
        target_id = int(raw)
        if target_id == ctx.session_id:
            raise NetconfError(
                ErrorTag.INVALID_VALUE,
                "A session cannot kill itself; use close-session.",
                type=ErrorType.PROTOCOL,
                info={"bad-element": "session-id"},
            )
        target = self.server.sessions.get(target_id)
        if target is None:
            raise NetconfError(
                ErrorTag.INVALID_VALUE,
                f"There is no session {target_id}.",
                type=ErrorType.PROTOCOL,
                info={"bad-element": "session-id"},
            )
        if self.server.lock_holder == target_id:
            self.server.lock_holder = None
        self.server.terminate_session(target, killed_by=ctx.session_id)
        return None

    async def validate(self, ctx: SessionContext, op: etree._Element) -> None:
        _only_parameters(op, frozenset({"source"}))
        which = _datastore_name(op, "source", allow_config=True)
        if which == "running":
            self.server.model.validate_config(self.server.datastore.get_config())
        else:
            source = _required(op, "source")
            config = _required(source, "config")
            await self.server.datastore.edit_off_loop(config, default_operation="replace", test_option="test-only")
        return None

    async def get_schema(self, ctx: SessionContext, op: etree._Element) -> list[etree._Element]:
        _only_parameters(op, frozenset({"identifier", "version", "format"}), MONITORING_NS)
        identifier = _required(op, "identifier", MONITORING_NS).text or ""
        version_el = _child(op, "version", MONITORING_NS)
        version = (version_el.text or "").strip() if version_el is not None else None
        format_el = _child(op, "format", MONITORING_NS)
        if format_el is not None:
            fmt = (format_el.text or "").strip()
            fmt = fmt.split(":", 1)[-1]
            if fmt != "yang":
                raise NetconfError(
                    ErrorTag.INVALID_VALUE,
                    f"Schema format '{fmt}' is not available; use 'yang'.",
                    info={"bad-element": "format"},
                )
        text = self.server.model.schema_text(identifier.strip(), version or None)
        data = etree.Element(f"{{{MONITORING_NS}}}data", nsmap=default_namespace(MONITORING_NS))
        data.text = text
        return [data]

    async def create_subscription(self, ctx: SessionContext, op: etree._Element) -> None:
        if ctx.subscription is not None:
            raise NetconfError(
                ErrorTag.IN_USE,
                "This session already has a subscription; open another session for a second one.",
                type=ErrorType.PROTOCOL,
            )
        request = self.server.hub.parse_request(op)
        ctx.hold_notifications()

        def complete() -> None:
            ctx.subscription = None

        try:
            subscription = self.server.hub.subscribe(request, ctx.send_notification, complete)
        except BaseException:
            ctx.release_notifications()
            raise
        if subscription.active:  # a replay-only subscription (stopTime past) is already complete
            ctx.subscription = subscription
        self.server.after_reply(ctx, ctx.release_notifications)
        return None


def _copy_and_serialize(tree: etree._Element) -> SerializedBody:
    return serialize_body([copy.deepcopy(tree)])


def register_base_operations(server: OperationsHost) -> None:
    ops = BaseOperations(server)
    server.register_cached_answer(_b("get-config"), ops.cached_get_config)
    for name, handler in (
        ("get", ops.get),
        ("get-config", ops.get_config),
        ("edit-config", ops.edit_config),
        ("lock", ops.lock),
        ("unlock", ops.unlock),
        ("close-session", ops.close_session),
        ("kill-session", ops.kill_session),
        ("validate", ops.validate),
    ):
        server.register_rpc(_b(name), handler, validate_input=False)
    server.register_rpc(f"{{{MONITORING_NS}}}get-schema", ops.get_schema, validate_input=False)
    server.register_rpc(f"{{{NOTIF_NS}}}create-subscription", ops.create_subscription, validate_input=False)
