"""Datastore: validation, commit checkers, persistence, listeners, and all-or-nothing edits."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.netconf import datastore as datastore_module
from esc_netconf.netconf.config_parts import WHOLE_KEY, assemble
from esc_netconf.netconf.datastore import Datastore, StoredConfigError
from esc_netconf.netconf.editconfig import canonical_bytes
from esc_netconf.netconf.errors import BASE_NS, ErrorTag, NetconfError, NetconfErrors
from esc_netconf.netconf.persistence import ConfigPart, MemoryConfigStore
from esc_netconf.netconf.undo import UndoLog
from esc_netconf.netconf.yangmodel import YangModel

YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
ESC = "http://www.cisco.com/esc/esc"
T = f"{{{ESC}}}"


class FakeConfigStore(MemoryConfigStore):
    """An in-memory ConfigStore that records, after every save, the whole document its parts make up;
    ``stored`` starts it with an earlier release's single document."""

    def __init__(self, stored: bytes | None = None, *, fail: bool = False) -> None:
        super().__init__([ConfigPart(WHOLE_KEY, "", 0, stored)] if stored is not None else [])
        self.documents: list[bytes] = []
        self.fail = fail

    def save_parts(self, write: Sequence[ConfigPart], delete: Collection[str], *, replace_all: bool = False,
                   validated_with: str | None = None) -> None:
        if self.fail:
            raise OSError("disk full")
        super().save_parts(write, delete, replace_all=replace_all, validated_with=validated_with)
        whole = assemble(self.load_parts())
        self.documents.append(canonical_bytes(whole) if whole is not None else b"")


@pytest.fixture(scope="module")
def model() -> YangModel:
    return YangModel.load(YANG_DIR)


@pytest.fixture
def store() -> FakeConfigStore:
    return FakeConfigStore()


@pytest.fixture
def ds(model: YangModel, store: FakeConfigStore) -> Datastore:
    return Datastore(model, store)


def config(deployments: str, *, tenant: str = "t") -> etree._Element:
    return etree.fromstring(
        f'<config xmlns="{BASE_NS}" xmlns:nc="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants><tenant>'
        f"<name>{tenant}</name><deployments>{deployments}</deployments></tenant></tenants></esc_datamodel></config>")


def dep(name: str = "d", *, min_active: int = 1, max_active: int = 1, attrs: str = "") -> str:
    return (f"<deployment{attrs}><name>{name}</name><vm_group><name>g</name><image>i</image><flavor>f</flavor>"
            f"<scaling><min_active>{min_active}</min_active><max_active>{max_active}</max_active></scaling>"
            "</vm_group></deployment>")


def names(tree: etree._Element) -> list[str]:
    return [d.findtext(f"{T}name") or "" for d in tree.iter(f"{T}deployment")]


def snapshot(ds: Datastore) -> bytes:
    return canonical_bytes(ds.get_config())


def test_fresh_datastore_is_empty(ds: Datastore) -> None:
    tree = ds.get_config()
    assert tree.tag == f"{{{BASE_NS}}}data" and len(tree) == 0


def test_edit_commits_persists_and_reloads(model: YangModel, ds: Datastore, store: FakeConfigStore) -> None:
    result = ds.edit(config(dep("d1")))
    assert (result.changed, result.committed, result.changed_subtrees) == (True, True, (f"{T}esc_datamodel",))
    assert (result.changed_paths, result.paths_nsmap) == (("/esc:esc_datamodel",), {"esc": ESC})
    assert store.documents == [snapshot(ds)]
    reloaded = Datastore(model, store)
    assert snapshot(reloaded) == snapshot(ds)
    assert names(reloaded.get_config()) == ["d1"]


def test_get_config_is_a_copy(ds: Datastore) -> None:
    ds.edit(config(dep()))
    ds.get_config().clear()
    assert names(ds.get_config()) == ["d"]


def test_noop_edit_changes_nothing(ds: Datastore, store: FakeConfigStore) -> None:
    ds.edit(config(dep()))
    heard: list[object] = []
    ds.add_commit_listener(lambda old, new: heard.append(new))
    result = ds.edit(config(dep()))
    assert (result.changed, result.committed) == (False, False)
    assert len(store.documents) == 1 and heard == []


def test_test_only_validates_without_committing(ds: Datastore, store: FakeConfigStore) -> None:
    result = ds.edit(config(dep()), test_option="test-only")
    assert (result.changed, result.committed) == (True, False)
    assert store.documents == [] and names(ds.get_config()) == []
    with pytest.raises(NetconfError) as caught:
        ds.edit(config(dep(min_active=2)), test_option="test-only")
    assert caught.value.tag is ErrorTag.OPERATION_FAILED


@pytest.mark.parametrize("test_option", ["test-then-set", "set"])
def test_failed_edit_leaves_datastore_byte_identical(ds: Datastore, store: FakeConfigStore, test_option: str) -> None:
    ds.edit(config(dep("keep")))
    before, saves = snapshot(ds), list(store.documents)
    with pytest.raises(NetconfError) as caught:
        ds.edit(config(dep("keep", min_active=5) + dep("new")), test_option=test_option)
    assert caught.value.message == "scaling: min_active must be less than or equal to max_active"
    assert snapshot(ds) == before and store.documents == saves


def test_continue_on_error_reports_all_and_applies_nothing(ds: Datastore, store: FakeConfigStore) -> None:
    edit = config(dep("new") + dep("a", attrs=' nc:operation="delete"') + dep("b", attrs=' nc:operation="delete"'))
    with pytest.raises(NetconfErrors) as caught:
        ds.edit(edit, error_option="continue-on-error")
    assert [e.tag for e in caught.value] == [ErrorTag.DATA_MISSING, ErrorTag.DATA_MISSING]
    assert names(ds.get_config()) == [] and store.documents == []


def test_bad_options_are_refused(ds: Datastore) -> None:
    for option in ({"default_operation": "merge-ish"}, {"test_option": "maybe"}, {"error_option": "ignore"}):
        with pytest.raises(NetconfError) as caught:
            ds.edit(config(dep()), **option)
        assert caught.value.tag is ErrorTag.INVALID_VALUE


def test_commit_checker_can_refuse(ds: Datastore, store: FakeConfigStore) -> None:
    seen: list[tuple[list[str], list[str]]] = []

    def no_more_than_two(old: etree._Element, new: etree._Element) -> None:
        seen.append((names(old), names(new)))
        if len(names(new)) > 2:
            raise NetconfError(ErrorTag.RESOURCE_DENIED, "At most two deployments.", info={"error_code": "409"})

    ds.add_commit_checker(no_more_than_two)
    ds.edit(config(dep("a") + dep("b")))
    before = snapshot(ds)
    with pytest.raises(NetconfError) as caught:
        ds.edit(config(dep("c")))
    assert caught.value.info == {"error_code": "409"}
    assert snapshot(ds) == before and len(store.documents) == 1
    assert seen == [([], ["a", "b"]), (["a", "b"], ["a", "b", "c"])]


def test_listeners_run_after_persisting(ds: Datastore, store: FakeConfigStore) -> None:
    calls: list[tuple[list[str], list[str], int]] = []

    def broken(old: etree._Element, new: etree._Element) -> None:
        raise RuntimeError("listener bug")

    ds.add_commit_listener(broken)
    ds.add_commit_listener(lambda old, new: calls.append((names(old), names(new), len(store.documents))))
    ds.edit(config(dep("a")))
    ds.edit(config(dep("a", attrs=' nc:operation="delete"')))
    assert calls == [([], ["a"], 1), (["a"], [], 2)]
    assert names(ds.get_config()) == []


def test_failed_save_changes_nothing(model: YangModel) -> None:
    store = FakeConfigStore(fail=True)
    ds = Datastore(model, store)
    heard: list[object] = []
    ds.add_commit_listener(lambda old, new: heard.append(new))
    with pytest.raises(OSError):
        ds.edit(config(dep()))
    assert names(ds.get_config()) == [] and heard == []


@pytest.mark.parametrize("stored", [
    b"not xml at all",
    f'<config xmlns="{BASE_NS}"/>'.encode(),
    f'<data xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><bogus/></esc_datamodel></data>'.encode(),
])
def test_unusable_stored_config_is_refused(model: YangModel, stored: bytes) -> None:
    with pytest.raises(StoredConfigError):
        Datastore(model, FakeConfigStore(stored))


BOGUS = f'<data xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><bogus/></esc_datamodel></data>'.encode()


def test_a_commit_notes_the_schema_that_validated_it(model: YangModel) -> None:
    store = FakeConfigStore()
    Datastore(model, store).edit(config(dep()))
    assert store.schema_digest == model.schema_digest and len(model.schema_digest) == 64


@pytest.mark.parametrize("noted", [None, "0" * 64])
def test_a_stored_config_not_validated_by_this_model_is_validated_at_load(model: YangModel,
                                                                         noted: str | None) -> None:
    store = FakeConfigStore(BOGUS)
    store.schema_digest = noted  # a release before the digest, a tool's whole document, another schema
    with pytest.raises(StoredConfigError):
        Datastore(model, store)


def test_a_stored_config_this_model_validated_is_not_validated_again(model: YangModel) -> None:
    """What this model validated at its last commit is trusted at load (the proof: a document it would refuse,
    noted as validated by it, loads)."""
    store = FakeConfigStore(BOGUS)
    store.schema_digest = model.schema_digest
    Datastore(model, store)


def test_stored_config_round_trip_is_canonical(model: YangModel) -> None:
    pretty = (f'<data xmlns="{BASE_NS}">\n  <esc_datamodel xmlns="{ESC}"><tenants><tenant><name>t</name>'
              "</tenant></tenants></esc_datamodel>\n</data>").encode()
    store = FakeConfigStore(pretty)
    ds = Datastore(model, store)
    assert [t.findtext(f"{T}name") for t in ds.get_config().iter(f"{T}tenant")] == ["t"]
    ds.edit(config(dep()))
    assert b"\n" not in store.documents[0]
    assert Datastore(model, store).edit(config(dep())).changed is False


@pytest.fixture
def no_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every edit_off_loop edit goes to the worker thread, however small."""
    monkeypatch.setattr(datastore_module, "INLINE_ELEMENTS", 0)


@pytest.mark.usefixtures("no_inline")
async def test_off_loop_edit_prepares_in_a_worker_and_commits_on_the_loop(ds: Datastore, store: FakeConfigStore) -> None:
    """The preparer runs in the worker thread with the edit's touched elements; the checker and the
    listener on the loop see the same two trees; the next edit starts from the committed tree."""
    loop_thread = threading.get_ident()
    seen: list[tuple[str, bool, list[str], list[str]]] = []

    def preparer(old: etree._Element, new: etree._Element, touched: frozenset[etree._Element]) -> None:
        assert threading.get_ident() != loop_thread and new in touched
        seen.append(("prepare", old is ds.running, names(old), names(new)))

    ds.add_commit_preparer(preparer)
    ds.add_commit_checker(lambda old, new: seen.append(("check", old is ds.running, names(old), names(new))))
    await ds.edit_off_loop(config(dep("a")))
    result = await ds.edit_off_loop(config(dep("b")))
    assert result.committed and result.current is ds.running and names(ds.running) == ["a", "b"]
    assert seen == [("prepare", True, [], ["a"]), ("check", True, [], ["a"]),
                    ("prepare", True, ["a"], ["a", "b"]), ("check", True, ["a"], ["a", "b"])]
    assert store.documents[-1] == snapshot(ds)


async def test_a_preparer_can_refuse_and_nothing_changes(ds: Datastore, store: FakeConfigStore) -> None:
    await ds.edit_off_loop(config(dep("a")))
    before, saves = snapshot(ds), list(store.documents)

    def refuse(old: etree._Element, new: etree._Element, touched: frozenset[etree._Element]) -> None:
        raise NetconfError(ErrorTag.RESOURCE_DENIED, "No.")

    ds.add_commit_preparer(refuse)
    with pytest.raises(NetconfError):
        await ds.edit_off_loop(config(dep("b") + dep("a", attrs=' nc:operation="delete"')))
    assert snapshot(ds) == before and store.documents == saves


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)


async def test_an_edit_answers_once_its_listeners_work_after_the_commit_has_ended(ds: Datastore) -> None:
    loop = asyncio.get_running_loop()
    going_on: list[asyncio.Future[None]] = []
    order: list[str] = []

    def listener(old: etree._Element, new: etree._Element) -> asyncio.Future[None]:
        order.append(f"commit {names(new)}")
        later: asyncio.Future[None] = loop.create_future()
        later.add_done_callback(lambda _: order.append(f"applied {names(new)}"))
        going_on.append(later)
        return later

    ds.add_commit_listener(listener)
    first = asyncio.ensure_future(ds.edit_off_loop(config(dep("a"))))
    second = asyncio.ensure_future(ds.edit_off_loop(config(dep("b"))))
    await _until(lambda: bool(order))
    await asyncio.sleep(0.05)
    assert not first.done() and order == ["commit ['a']"], "the next edit waits for the listener's work"
    going_on[0].set_result(None)
    assert (await first).committed
    await _until(lambda: len(going_on) == 2)
    going_on[1].set_result(None)
    await second
    assert order == ["commit ['a']", "applied ['a']", "commit ['a', 'b']", "applied ['a', 'b']"]


async def test_a_cancelled_edit_still_waits_for_its_listeners_work_before_the_next_edit(ds: Datastore) -> None:
    loop = asyncio.get_running_loop()
    later: asyncio.Future[None] = loop.create_future()
    ds.add_commit_listener(lambda old, new: later if names(new) == ["a"] else None)
    first = asyncio.ensure_future(ds.edit_off_loop(config(dep("a"))))
    await _until(lambda: names(ds.running) == ["a"])  # committed; its listener goes on
    first.cancel()
    second = asyncio.ensure_future(ds.edit_off_loop(config(dep("b"))))
    await asyncio.sleep(0.05)
    assert not first.done() and not second.done() and names(ds.running) == ["a"]
    later.set_result(None)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await second).committed and names(ds.running) == ["a", "b"]


async def test_a_small_edit_is_prepared_on_the_loop(ds: Datastore) -> None:
    threads: list[int] = []
    ds.add_commit_preparer(lambda old, new, touched: threads.append(threading.get_ident()))
    await ds.edit_off_loop(config(dep("a")))
    assert threads == [threading.get_ident()]


@pytest.mark.usefixtures("no_inline")
async def test_cancelled_off_loop_edit_changes_nothing(ds: Datastore, store: FakeConfigStore) -> None:
    """A client gone while its edit is prepared: the worker finishes on the working copy, the edit is taken
    back, and the next edit works on an exact copy of the running tree."""
    await ds.edit_off_loop(config(dep("a")))
    before, saves = snapshot(ds), list(store.documents)
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow(old: etree._Element, new: etree._Element, touched: frozenset[etree._Element]) -> None:
        loop.call_soon_threadsafe(started.set)
        time.sleep(0.2)

    ds.add_commit_preparer(slow)
    task = asyncio.create_task(ds.edit_off_loop(config(dep("b"))))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert snapshot(ds) == before and store.documents == saves
    result = await ds.edit_off_loop(config(dep("c")))
    assert result.committed and names(ds.running) == ["a", "c"]


class GatedStore(FakeConfigStore):
    """Saves in whatever thread calls it, once the test lets it (``go``), failing if ``fail``."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.saving = threading.Event()
        self.threads: list[int] = []

    def save_parts(self, write: Sequence[ConfigPart], delete: Collection[str], *, replace_all: bool = False,
                   validated_with: str | None = None) -> None:
        self.threads.append(threading.get_ident())
        self.saving.set()
        assert self.go.wait(10)
        super().save_parts(write, delete, replace_all=replace_all, validated_with=validated_with)


async def _while_saving(store: GatedStore) -> None:
    while not store.saving.is_set():
        await asyncio.sleep(0.005)


async def test_the_save_runs_off_the_loop_and_readers_see_the_old_tree_until_it_is_durable(model: YangModel) -> None:
    store = GatedStore()
    ds = Datastore(model, store)
    task = asyncio.create_task(ds.edit_off_loop(config(dep("a"))))
    await asyncio.wait_for(_while_saving(store), 10)  # the loop runs on while the store writes
    assert names(ds.running) == [] and ds.generation == 0, "not committed before it is durable"
    store.go.set()
    result = await task
    assert result.committed and names(ds.running) == ["a"] and ds.generation == 1
    assert threading.get_ident() not in store.threads, "the store was written on the loop's thread"


async def test_a_save_that_fails_off_the_loop_leaves_running_unchanged(model: YangModel) -> None:
    store = GatedStore()
    ds = Datastore(model, store)
    await asyncio.wait_for(asyncio.gather(ds.edit_off_loop(config(dep("a"))), _release(store)), 10)
    before, saves, generation = snapshot(ds), list(store.documents), ds.generation
    store.fail = True
    heard: list[object] = []
    ds.add_commit_listener(lambda old, new: heard.append(new))
    with pytest.raises(OSError, match="disk full"):
        await ds.edit_off_loop(config(dep("b") + dep("a", attrs=' nc:operation="delete"')))
    assert snapshot(ds) == before and store.documents == saves and ds.generation == generation and heard == []
    store.fail = False
    result = await ds.edit_off_loop(config(dep("c")))  # the working copy was taken back exactly
    assert result.committed and names(ds.running) == ["a", "c"] and store.documents[-1] == snapshot(ds)


async def _release(store: GatedStore) -> None:
    await _while_saving(store)
    store.go.set()


async def test_cancelled_while_saving_the_edit_ends_as_the_save_did(model: YangModel) -> None:
    """Cancelled once the save has begun: the save cannot be called back, so the edit is committed (it is
    durable) and then the task is cancelled; the running tree matches the store either way."""
    store = GatedStore()
    ds = Datastore(model, store)
    task = asyncio.create_task(ds.edit_off_loop(config(dep("a"))))
    await asyncio.wait_for(_while_saving(store), 10)
    task.cancel()
    await asyncio.sleep(0.02)
    assert not task.done(), "it waits for the save"
    store.go.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert names(ds.running) == ["a"] and store.documents[-1] == snapshot(ds)
    result = await ds.edit_off_loop(config(dep("b")))
    assert result.committed and names(ds.running) == ["a", "b"] and store.documents[-1] == snapshot(ds)


def test_undo_log_puts_elements_back_in_place() -> None:
    """Removals, insertions and text changes, mixed and nested, taken back newest first: the same bytes."""
    root = etree.fromstring("<r><a>1</a><b><c>2</c><d/></b><e>3</e><!--x--><f/></r>")
    before = etree.tostring(root)
    log = UndoLog()
    b, e, f = root[1], root[2], root[4]
    log.removing(e)
    root.remove(e)
    new = etree.Element("n")
    f.addnext(new)
    log.inserted(new)
    log.setting_text(b[0])
    b[0].text = "changed"
    log.removing(b)
    root.remove(b)
    log.removing(root[0])
    root.remove(root[0])
    assert etree.tostring(root) != before
    log.undo()
    assert etree.tostring(root) == before and len(log) == 0


def test_the_generation_changes_with_every_commit_though_the_trees_take_turns(ds: Datastore) -> None:
    """A cache keyed on the running tree's identity would serve the first tree's content again two commits
    later (the twin takes its turn as the running tree); the generation never comes back."""
    seen = {ds.generation}
    first = ds.running
    for name in ("d1", "d2"):
        ds.edit(config(dep(name)))
        seen.add(ds.generation)
    assert ds.running is first, "the trees take turns (what makes identity unusable as a version)"
    assert len(seen) == 3
    before = ds.generation
    ds.edit(config(dep("d2")))  # changes nothing: no new generation
    assert ds.generation == before


def test_a_tree_read_off_the_loop_is_not_brought_up_to_date_under_its_reader(ds: Datastore) -> None:
    ds.edit(config(dep("d1")))
    with ds.reading() as tree:
        held = canonical_bytes(tree)
        ds.edit(config(dep("d2")))  # the tree read becomes the twin
        ds.edit(config(dep("d3")))  # this edit would bring it up to date (with d2) and edit it (d3)
        assert canonical_bytes(tree) == held, "what the reader reads stays as it was"
        assert names(ds.running) == ["d1", "d2", "d3"]
    ds.edit(config(dep("d4")))
    ds.edit(config(dep("d5")))
    assert names(ds.running) == ["d1", "d2", "d3", "d4", "d5"]
    assert snapshot(ds) == canonical_bytes(ds.running)
