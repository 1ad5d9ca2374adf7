"""The YANG library (RFC 8525 and the RFC 7895 /modules-state) built from the loaded model, the hello's
module capabilities, and the model's own loading rules (standard modules from the package only)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.netconf.capabilities import PROTOCOL_CAPABILITIES, features_of_capabilities
from esc_netconf.netconf.yanglibrary import YANG_LIBRARY_NS, YangLibrary
from esc_netconf.netconf.yangmodel import YangModel, YangModelError
from esc_netconf.packaged import standard_yang_dir, yang_dir

YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
NS = {"yl": YANG_LIBRARY_NS}
IMPLEMENTED = {"esc", "ietf-netconf", "ietf-netconf-monitoring", "ietf-netconf-notifications", "notifications",
               "nc-notifications", "ietf-yang-library", "ietf-datastores"}
IMPORT_ONLY = {"ietf-inet-types", "ietf-yang-types"}


@pytest.fixture(scope="module")
def model() -> YangModel:
    return YangModel.load(YANG_DIR)


@pytest.fixture(scope="module")
def library(model: YangModel) -> YangLibrary:
    return YangLibrary(model.modules)


def test_the_package_data_is_the_repository_yang_directory() -> None:
    assert yang_dir() == YANG_DIR
    assert (standard_yang_dir() / "notifications@2008-07-14.yang").is_file()


def test_ietf_netconf_features_follow_the_capabilities() -> None:
    assert features_of_capabilities(PROTOCOL_CAPABILITIES) == ("writable-running", "rollback-on-error", "validate",
                                                               "xpath")
    assert features_of_capabilities(["urn:ietf:params:netconf:capability:candidate:1.0"]) == ("candidate",)


def test_conformance_of_every_module(model: YangModel) -> None:
    conformance = {m.name: m.implemented for m in model.modules if m.belongs_to is None}
    assert conformance == {**{n: True for n in IMPLEMENTED}, **{n: False for n in IMPORT_ONLY}}
    assert {m.name: m.belongs_to for m in model.modules if m.belongs_to is not None} == {"esc-config": "esc"}


def test_module_capabilities_carry_revision_and_features(model: YangModel) -> None:
    caps = model.capabilities()
    assert ("urn:ietf:params:xml:ns:netconf:base:1.0?module=ietf-netconf&revision=2011-06-01"
            "&features=writable-running,rollback-on-error,validate,xpath") in caps
    assert "urn:ietf:params:xml:ns:netconf:notification:1.0?module=notifications&revision=2008-07-14" in caps
    assert "urn:ietf:params:xml:ns:netmod:notification?module=nc-notifications&revision=2008-07-14" in caps
    assert {c.split("module=")[1].split("&")[0] for c in caps} == IMPLEMENTED


def test_the_capability_names_the_library_revision_and_module_set(library: YangLibrary) -> None:
    assert library.capability() == ("urn:ietf:params:netconf:capability:yang-library:1.0?revision=2019-01-04"
                                    f"&module-set-id={library.module_set_id}")


def test_yang_library_lists_every_module_once(library: YangLibrary, model: YangModel) -> None:
    tree, state = library.elements()
    assert tree.tag == f"{{{YANG_LIBRARY_NS}}}yang-library"
    implemented = {m.findtext("yl:name", namespaces=NS): m for m in tree.iterfind("yl:module-set/yl:module", NS)}
    imported = {m.findtext("yl:name", namespaces=NS): m
                for m in tree.iterfind("yl:module-set/yl:import-only-module", NS)}
    assert set(implemented) == IMPLEMENTED and set(imported) == IMPORT_ONLY
    by_name = {m.name: m for m in model.modules}
    for name, entry in (implemented | imported).items():
        assert entry.findtext("yl:revision", namespaces=NS) == by_name[name].revision
        assert entry.findtext("yl:namespace", namespaces=NS) == by_name[name].namespace
    assert [f.text for f in implemented["ietf-netconf"].iterfind("yl:feature", NS)] == [
        "writable-running", "rollback-on-error", "validate", "xpath"]
    assert tree.findtext("yl:content-id", namespaces=NS) == library.module_set_id
    assert [d.findtext("yl:name", namespaces=NS) for d in tree.iterfind("yl:datastore", NS)] == [
        "ds:running", "ds:operational"]

    assert state.findtext("yl:module-set-id", namespaces=NS) == library.module_set_id
    legacy = {m.findtext("yl:name", namespaces=NS): m.findtext("yl:conformance-type", namespaces=NS)
              for m in state.iterfind("yl:module", NS)}
    assert legacy == {**{n: "implement" for n in IMPLEMENTED}, **{n: "import" for n in IMPORT_ONLY}}


def test_the_library_is_valid_against_ietf_yang_library(library: YangLibrary, model: YangModel) -> None:
    data = etree.Element("{urn:ietf:params:xml:ns:netconf:base:1.0}data")
    data.extend(library.elements())
    # RFC 5277's /netconf/streams needs at least one stream in any complete state data
    data.append(etree.fromstring('<netconf xmlns="urn:ietf:params:xml:ns:netmod:notification"><streams><stream>'
                                 "<name>NETCONF</name><description>d</description><replaySupport>false"
                                 "</replaySupport></stream></streams></netconf>"))
    model.validate_data(data)  # raises if any entry breaks the module (types, keys, leafrefs, mandatory)


def test_elements_are_fresh_copies(library: YangLibrary) -> None:
    first = library.elements()[0]
    first.clear()
    assert len(library.elements()[0]) > 0


def test_the_module_set_id_changes_with_the_features(model: YangModel) -> None:
    fewer = YangModel.load(YANG_DIR, standard_features={"ietf-netconf": ("writable-running",)})
    assert YangLibrary(fewer.modules).module_set_id != YangLibrary(model.modules).module_set_id
    assert YangLibrary(model.modules).module_set_id == YangLibrary(YangModel.load(YANG_DIR).modules).module_set_id


def test_application_modules_have_all_their_features_and_deviations_are_listed(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    for name in ("esc.yang", "esc-config.yang"):  # the module and its submodule
        shutil.copy(YANG_DIR / name, app / name)
    (app / "esc-dev.yang").write_text('''module esc-dev {
  yang-version 1.1;
  namespace "urn:example:esc-dev";
  prefix dev;
  import esc { prefix esc; }
  organization "example"; contact "example"; description "A deviation and a feature, for the test.";
  revision 2026-01-01 { description "First."; reference "none"; }
  feature fast { description "A feature."; }
  deviation /esc:esc_datamodel/esc:tenants/esc:tenant/esc:description { deviate not-supported; }
}
''', encoding="utf-8")
    model = YangModel.load(app)
    by_name = {m.name: m for m in model.modules}
    assert by_name["esc"].deviations == ("esc-dev",)
    assert by_name["esc-dev"].features == ("fast",)
    caps = model.capabilities()
    assert any(c.startswith("http://www.cisco.com/esc/esc?module=esc&") and c.endswith("&deviations=esc-dev")
               for c in caps)
    assert "urn:example:esc-dev?module=esc-dev&revision=2026-01-01&features=fast" in caps
    tree, state = YangLibrary(model.modules).elements()
    esc = tree.find("yl:module-set/yl:module[yl:name='esc']", NS)
    assert esc is not None and esc.findtext("yl:deviation", namespaces=NS) == "esc-dev"
    legacy = state.find("yl:module[yl:name='esc']/yl:deviation", NS)
    assert legacy is not None and legacy.findtext("yl:revision", namespaces=NS) == "2026-01-01"


def test_an_import_missing_from_the_shipped_modules_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "m.yang").write_text('''module m {
  namespace "urn:example:m"; prefix m;
  import ietf-interfaces { prefix if; }
  description "Imports a module the server does not ship.";
  revision 2026-01-01 { description "First."; }
}
''', encoding="utf-8")
    with pytest.raises(YangModelError, match="ietf-interfaces"):
        YangModel.load(tmp_path)
