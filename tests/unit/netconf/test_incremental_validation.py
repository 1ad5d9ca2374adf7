"""Incremental validation (validate what an edit changed) against whole-tree validation, and the
stored parts (persist what an edit changed) against the whole tree.

The differential test runs random edit sequences through two datastores, one validating incrementally
(the server's) and one validating the whole candidate tree (the reference), and requires the same verdict
(accepted, or refused with the same error-tag, app-tag, path and message) and the same running datastore
after every edit; and that what the server stored, part by part, puts back together into exactly the
running tree, and that it committed exactly when the whole tree's canonical XML changed. The edits mix operations (merge, replace, create, delete, remove) and break every kind
of constraint the model has: a ``must`` (min_active <= max_active, no self-reference), a leafref
(placement to a group that does not exist), ``min-elements``, a mandatory leaf, a bad value.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from esc_netconf.netconf.config_parts import assemble
from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.editconfig import canonical_bytes, drop_empty_containers
from esc_netconf.netconf.errors import BASE_NS, ErrorTag, NetconfError, NetconfErrors
from esc_netconf.netconf.incremental import EditedTree, self_contained_lists
from esc_netconf.netconf.nc_notifications import config_edits
from esc_netconf.netconf.persistence import ConfigPart, MemoryConfigStore
from esc_netconf.netconf.yangmodel import YangModel

YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
ESC = "http://www.cisco.com/esc/esc"


class WholeTreeModel:
    """The model, except that an edit's candidate is validated whole (the reference path)."""

    def __init__(self, model: YangModel) -> None:
        self._model = model

    def validate_edit(self, old: etree._Element, new: EditedTree) -> None:
        self._model.validate_config(new.tree)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


@pytest.fixture(scope="module")
def model() -> YangModel:
    return YangModel.load(YANG_DIR)


OPS = st.sampled_from(["", ' nc:operation="merge"', ' nc:operation="replace"', ' nc:operation="create"',
                       ' nc:operation="delete"', ' nc:operation="remove"'])
GROUPS = st.sampled_from(["g0", "g1", "g2"])


@st.composite
def vm_group(draw: st.DrawFn) -> str:
    op = draw(OPS)
    name = draw(GROUPS)
    if "delete" in op or "remove" in op:
        return f"<vm_group{op}><name>{name}</name></vm_group>"
    image = "" if draw(st.integers(0, 9)) == 0 else "<image>i</image>"  # mandatory, sometimes missing
    low = draw(st.sampled_from(["0", "1", "2", "3", "-1", "x"]))
    high = draw(st.sampled_from(["1", "2", "3"]))
    return (f"<vm_group{op}><name>{name}</name>{image}<flavor>f</flavor>"
            f"<scaling><min_active>{low}</min_active><max_active>{high}</max_active></scaling></vm_group>")


@st.composite
def policies(draw: st.DrawFn) -> str:
    op = draw(OPS)
    target = draw(GROUPS)
    if "delete" in op or "remove" in op:
        return f"<policies><placement{op}><target_vm_group_ref>{target}</target_vm_group_ref></placement></policies>"
    refs = "".join(f"<vm_group_ref>{g}</vm_group_ref>" for g in draw(st.lists(GROUPS, min_size=draw(st.sampled_from([0, 1, 1])),
                                                                   max_size=2, unique=True)))
    return (f"<policies><placement{op}><target_vm_group_ref>{target}</target_vm_group_ref>"
            f"<type>affinity</type>{refs}</placement></policies>")


@st.composite
def whole_deployment(draw: st.DrawFn) -> str:
    """A deployment that is usually valid: groups, and a placement between two of them."""
    groups = draw(st.lists(GROUPS, min_size=1, max_size=3, unique=True))
    body = "".join(f"<vm_group><name>{g}</name><image>i</image><flavor>f</flavor></vm_group>" for g in groups)
    if len(groups) > 1 and draw(st.booleans()):
        body += (f"<policies><placement><target_vm_group_ref>{groups[0]}</target_vm_group_ref>"
                 f"<type>affinity</type><vm_group_ref>{groups[1]}</vm_group_ref></placement></policies>")
    return body


@st.composite
def deployment(draw: st.DrawFn) -> str:
    op = draw(OPS)
    name = draw(st.sampled_from(["d0", "d1", "d2", "d3"]))
    if "delete" in op or "remove" in op:
        return f"<deployment{op}><name>{name}</name></deployment>"
    if draw(st.booleans()):
        return f"<deployment{op}><name>{name}</name>{draw(whole_deployment())}</deployment>"
    parts = draw(st.lists(st.one_of(vm_group(), policies(), policies()), min_size=0, max_size=3))
    return f"<deployment{op}><name>{name}</name>{''.join(parts)}</deployment>"


@st.composite
def edit(draw: st.DrawFn) -> etree._Element:
    tenants = []
    for tenant in draw(st.lists(st.sampled_from(["t0", "t1", "t2"]), min_size=1, max_size=2, unique=True)):
        op = draw(OPS)
        body = "" if "delete" in op or "remove" in op else (
            "<deployments>" + "".join(draw(st.lists(deployment(), max_size=3))) + "</deployments>")
        tenants.append(f"<tenant{op}><name>{tenant}</name>{body}</tenant>")
    return etree.fromstring(
        f'<config xmlns="{BASE_NS}" xmlns:nc="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants>'
        f"{''.join(tenants)}</tenants></esc_datamodel></config>")


def outcome(ds: Datastore, config: etree._Element, default_operation: str, test_option: str = "test-then-set",
            before: bytes | None = None) -> tuple[object, ...]:
    try:
        result = ds.edit(config, default_operation=default_operation, test_option=test_option)
    except NetconfErrors as errors:
        return ("refused", *((e.tag, e.app_tag, e.path, e.message) for e in errors.errors))
    except NetconfError as error:
        return ("refused", error.tag, error.app_tag, error.path, error.message)
    except OSError as error:
        return ("failed", str(error))
    if result.committed:  # the notification's diff, walking only what the edit touched, as walking all
        assert result.previous is not None and result.current is not None
        if before is not None:
            assert canonical_bytes(result.previous) == before  # the tree the edit replaced, as it was
        touched = config_edits(result.previous, result.current, config, default_operation, ds_model(ds),
                               result.touched)
        whole = config_edits(result.previous, result.current, config, default_operation, ds_model(ds))
        assert [(str(e.target), e.operation) for e in touched] == [(str(e.target), e.operation) for e in whole]
    return ("accepted", result.committed)


def ds_model(ds: Datastore) -> YangModel:
    return ds._model  # noqa: SLF001 (the test compares two ways of the same datastore)


def _one_deployment(body: str) -> etree._Element:
    return etree.fromstring(
        f'<config xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants><tenant><name>t0</name><deployments>'
        f"<deployment><name>d0</name>{body}</deployment></deployments></tenant></tenants></esc_datamodel></config>")


# A placement added alone refers to groups the edit does not touch: they must stay in what is validated.
GROUPS_THEN_PLACEMENT = [
    (_one_deployment("<vm_group><name>g0</name><image>i</image><flavor>f</flavor></vm_group>"
                     "<vm_group><name>g1</name><image>i</image><flavor>f</flavor></vm_group>"), "merge"),
    (_one_deployment("<policies><placement><target_vm_group_ref>g0</target_vm_group_ref><type>affinity</type>"
                     "<vm_group_ref>g1</vm_group_ref></placement></policies>"), "merge"),
]


class FlakyStore(MemoryConfigStore):
    """A store whose next save fails when told (a full disk, a lost database)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next = False

    def save_parts(self, write: Sequence[ConfigPart], delete: Collection[str], *, replace_all: bool = False,
                   validated_with: str | None = None) -> None:
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        super().save_parts(write, delete, replace_all=replace_all, validated_with=validated_with)


class Refusing:
    """A commit checker that refuses the next commit when told (as the bridge refuses what the VIM cannot do)."""

    def __init__(self) -> None:
        self.refuse_next = False

    def __call__(self, old: etree._Element, new: etree._Element) -> None:
        if self.refuse_next:
            self.refuse_next = False
            raise NetconfError(ErrorTag.RESOURCE_DENIED, "Refused by the checker.")


# how an edit that the model accepts may still fail afterwards: nothing, a checker, the store, test-only
FAILURES = st.sampled_from(["none", "none", "none", "checker", "store", "test-only"])


@example(edits=[(c, d, "none") for c, d in GROUPS_THEN_PLACEMENT])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(edit(), st.sampled_from(["merge", "merge", "replace", "none"]), FAILURES),
                      min_size=1, max_size=10))
def test_incremental_and_whole_tree_agree(model: YangModel, edits: list[tuple[etree._Element, str, str]]) -> None:
    """Both paths agree edit by edit, and every edit that fails (for the model, a checker, the store, or
    because it is test-only) leaves the datastore byte for byte as it was: its undo log took it back."""
    store, reference_store = FlakyStore(), FlakyStore()
    incremental = Datastore(model, store)
    reference = Datastore(WholeTreeModel(model), reference_store)  # type: ignore[arg-type]
    refusing, reference_refusing = Refusing(), Refusing()
    incremental.add_commit_checker(refusing)
    reference.add_commit_checker(reference_refusing)
    for config, default_operation, failure in edits:
        before = canonical_bytes(incremental.running)
        stored_before = dict(store.parts)
        refusing.refuse_next = reference_refusing.refuse_next = failure == "checker"
        store.fail_next = reference_store.fail_next = failure == "store"
        test_option = "test-only" if failure == "test-only" else "test-then-set"
        got = outcome(incremental, config, default_operation, test_option, before)
        want = outcome(reference, config, default_operation, test_option)
        refusing.refuse_next = reference_refusing.refuse_next = store.fail_next = reference_store.fail_next = False
        assert got == want, etree.tostring(config).decode()
        event(f"{got[0]} {got[1]} {got[2] if got[0] == 'refused' else ''} {failure}")
        after = canonical_bytes(incremental.running)
        assert after == canonical_bytes(reference.running)
        if got[0] == "accepted":
            assert got[1] == (before != after), etree.tostring(config).decode()
        if not (got[0] == "accepted" and got[1]):
            assert after == before and store.parts == stored_before  # taken back, byte for byte
        incremental._catch_up()  # noqa: SLF001 (the twin, brought up to date, is the running tree again)
        assert canonical_bytes(incremental._twin) == after  # noqa: SLF001
        tidied = incremental.get_config()  # edit_in_place tidies only where it edited: nowhere else is left
        drop_empty_containers(tidied, model)
        assert canonical_bytes(tidied) == after
        stored = assemble(store.load_parts())  # None: nothing stored, the same as an empty <data>
        assert canonical_bytes(stored if stored is not None else Datastore(model, MemoryConfigStore()).running) \
            == after, etree.tostring(config).decode()
    assert canonical_bytes(Datastore(model, store).running) == canonical_bytes(incremental.running)


def test_the_sequences_reach_both_verdicts(model: YangModel) -> None:
    """The generator is not vacuous: some edits are refused for a constraint, some accepted."""
    ds = Datastore(model, MemoryConfigStore())
    ok = ('<deployment><name>d0</name><vm_group><name>g0</name><image>i</image><flavor>f</flavor>'
          '<scaling><min_active>1</min_active><max_active>1</max_active></scaling></vm_group></deployment>')
    bad_ref = ('<deployment><name>d1</name><vm_group><name>g0</name><image>i</image><flavor>f</flavor></vm_group>'
               '<policies><placement><target_vm_group_ref>g0</target_vm_group_ref><type>affinity</type>'
               '<vm_group_ref>g9</vm_group_ref></placement></policies></deployment>')

    def wrap(body: str) -> etree._Element:
        return etree.fromstring(
            f'<config xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants><tenant><name>t0</name>'
            f"<deployments>{body}</deployments></tenant></tenants></esc_datamodel></config>")

    assert outcome(ds, wrap(ok), "merge") == ("accepted", True)
    refused = outcome(ds, wrap(bad_ref), "merge")
    assert refused[0] == "refused" and refused[2] == "instance-required"


def test_self_contained_lists_of_the_esc_model(model: YangModel) -> None:
    """Deployments and tenants are self-contained; a vm_group is not (a placement in its deployment
    refers to it by leafref), so a change to a group re-validates its whole deployment."""
    names = {lst.name for lst in self_contained_lists(model._dm.schema)}
    assert {"tenant", "deployment"} <= names
    assert "vm_group" not in names
