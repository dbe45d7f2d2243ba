#!/usr/bin/env python3
"""Client-compatibility scenario: the official Python SDK (azure-digitaltwins-core) against a
running twingraph server over TLS.

Run by scripts/sdk-test, which starts the server and sets:
  TWINGRAPH_URL        https://127.0.0.1:PORT
  REQUESTS_CA_BUNDLE   the server's self-signed CA (how a user trusts it, sdk-wire.md §1.2)
  SDK_REPO_ROOT        the repository root (to find ../shared/corpus/dtdl/building)

Every check prints PASS or FAIL (with the request and the response that broke it) and the
script ends with `RESULT python passed=N failed=M`; it exits 1 on any failure.
Ids: models dtmi:sdkpy:*, twins/relationships/routes py-*; the RealEstateCore ontology is
loaded under its own DTMIs (the JS scenario loads it renamed).
"""

import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path

from azure.core import MatchConditions
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.digitaltwins.core import DigitalTwinsClient, DigitalTwinsEventRoute
from azure.digitaltwins.core._generated.models import DigitalTwinModelsListOptions

# The SDK logs "Datetime with no tzinfo will be considered UTC." on every telemetry call.
logging.getLogger("azure").setLevel(logging.ERROR)

URL = os.environ.get("TWINGRAPH_URL", "https://127.0.0.1:8443")
ROOT = Path(os.environ.get("SDK_REPO_ROOT", Path(__file__).resolve().parents[3]))
ONTOLOGY = Path(os.environ.get("SDK_ONTOLOGY", ROOT / ".." / "shared" / "corpus" / "dtdl" / "building"))
REC = "dtmi:digitaltwins:rec_3_3:"
P = "dtmi:sdkpy:"


class FixedToken:
    """A TokenCredential returning one fixed token (sdk-wire.md §1.3)."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken("sdk-test-token", int(time.time()) + 3600)


# ---------------------------------------------------------------------------------------------
# checks

PASSED = 0
FAILED = 0
FAILURES = []


def describe(e):
    """What went over the wire for an SDK error: request, status, service code, message."""
    if isinstance(e, HttpResponseError):
        req = ""
        resp = getattr(e, "response", None)
        if resp is not None and getattr(resp, "request", None) is not None:
            r = resp.request
            req = f"{r.method} {r.url}"
        body = ""
        if resp is not None:
            try:
                body = resp.text()[:400]
            except Exception:  # noqa: BLE001
                body = ""
        code = e.error.code if getattr(e, "error", None) is not None else None
        return (f"{type(e).__name__} status={e.status_code} code={code} "
                f"request=[{req}] body={body!r}")
    return f"{type(e).__name__}: {e}"


def report(name, ok, detail=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"  PASS {name}", flush=True)
    else:
        FAILED += 1
        FAILURES.append(name)
        print(f"  FAIL {name}: {detail}", flush=True)


def check(name, fn):
    """Runs fn; a raised exception (AssertionError or an SDK error) is a failure."""
    try:
        value = fn()
    except AssertionError as e:
        report(name, False, f"assertion: {e}")
        return None
    except Exception as e:  # noqa: BLE001
        report(name, False, describe(e))
        return None
    report(name, True)
    return value


def expect_error(name, fn, cls, status=None, code=None):
    """fn must raise `cls` (exactly that SDK class, not just a subclass of it), with the
    status and service error code given."""
    try:
        got = fn()
        if hasattr(got, "__iter__") and not isinstance(got, (dict, str)):
            got = list(got)  # paged results raise on first iteration
    except Exception as e:  # noqa: BLE001
        problems = []
        if type(e) is not cls:
            problems.append(f"expected {cls.__name__}")
        if status is not None and getattr(e, "status_code", None) != status:
            problems.append(f"expected status {status}")
        if code is not None:
            got_code = e.error.code if getattr(e, "error", None) is not None else None
            if got_code != code:
                problems.append(f"expected code {code}")
        if problems:
            report(name, False, "; ".join(problems) + " -- got " + describe(e))
        else:
            report(name, True)
        return
    report(name, False, f"expected {cls.__name__} ({status} {code}), but the call succeeded: {got!r}"[:600])


def eq(a, b, what=""):
    assert a == b, f"{what} expected {b!r}, got {a!r}"


def section(title):
    print(f"-- {title}", flush=True)


# ---------------------------------------------------------------------------------------------
# models used by the scenario

def iface(name, contents=(), extends=None, ctx=2, display=None):
    d = {"@id": f"{P}{name};1", "@type": "Interface", "@context": f"dtmi:dtdl:context;{ctx}",
         "contents": list(contents)}
    if extends:
        d["extends"] = extends
    if display is not None:
        d["displayName"] = display
    return d


def prop(name, schema):
    return {"@type": "Property", "name": name, "schema": schema}


MODELS = [
    iface("Thermostat", [prop("setpoint", "double"),
                         {"@type": "Telemetry", "name": "temp", "schema": "double"}]),
    iface("Space", [prop("name", "string"),
                    {"@type": "Relationship", "name": "contains",
                     "properties": [prop("since", "string")]}], display="Space"),
    iface("Room", [prop("temperature", "double"), prop("humidity", "double"),
                   {"@type": "Component", "name": "thermostat", "schema": f"{P}Thermostat;1"},
                   {"@type": "Relationship", "name": "adjacentTo", "target": f"{P}Room;1",
                    "properties": [prop("distance", "double")]}],
          extends=f"{P}Space;1", display="Room"),
    iface("Floor", [prop("level", "integer")], extends=f"{P}Space;1", ctx=3),
    iface("Unused", [prop("x", "integer")]),
    iface("Legacy", [prop("x", "integer")]),
]
ROOM = f"{P}Room;1"
FLOOR = f"{P}Floor;1"
SPACE = f"{P}Space;1"
THERMO = f"{P}Thermostat;1"


def room_twin(name, temp=20.5, setpoint=21.0):
    return {"$metadata": {"$model": ROOM}, "name": name, "temperature": temp,
            "thermostat": {"$metadata": {}, "setpoint": setpoint}}


def floor_twin(level, name="floor"):
    return {"$metadata": {"$model": FLOOR}, "name": name, "level": level}


def etag_of(client, twin_id):
    return client.get_digital_twin(twin_id)["$etag"]


def headers_cls(resp, body, headers):
    return headers


# ---------------------------------------------------------------------------------------------

def models(c):
    section("models")

    def create():
        out = c.create_models(MODELS)
        eq(sorted(m.id for m in out), sorted(m["@id"] for m in MODELS), "created ids")
        room = next(m for m in out if m.id == ROOM)
        eq(room.display_name, {"en": "Room"}, "displayName (string -> language map)")
        assert room.upload_time is not None, "uploadTime missing"
        eq(room.decommissioned, False, "decommissioned")
    check("create_models: 6 models, inheritance + component, one batch", create)

    expect_error("create_models: an existing model -> ResourceExistsError (ModelAlreadyExists)",
                 lambda: c.create_models([MODELS[0]]), ResourceExistsError, 409, "ModelAlreadyExists")
    bad = iface("Broken", extends=f"{P}DoesNotExist;1")
    expect_error("create_models: unresolved extends -> HttpResponseError 400 (DTDLParserError)",
                 lambda: c.create_models([bad]), HttpResponseError, 400, "DTDLParserError")
    expect_error("create_models: failed batch stores nothing (atomic)",
                 lambda: c.get_model(f"{P}Broken;1"), ResourceNotFoundError, 404)

    def get():
        m = c.get_model(ROOM)
        eq(m.id, ROOM, "id")
        eq(m.model, None, "model without includeModelDefinition")
        m = c.get_model(ROOM, include_model_definition=True)
        assert m.model is not None, "no model definition"
        eq(m.model.get("@id"), ROOM, "model.@id")
        eq(m.model.get("extends"), SPACE, "model.extends")
    check("get_model with and without definition", get)
    expect_error("get_model: unknown -> ResourceNotFoundError (ModelNotFound)",
                 lambda: c.get_model(f"{P}Nope;1"), ResourceNotFoundError, 404, "ModelNotFound")

    def deps_one():
        ids = sorted(m.id for m in c.list_models([ROOM]))
        eq(ids, sorted([ROOM, SPACE, THERMO]), "dependencies of Room")
    check("list_models dependencies_for=[Room] -> Room, Space (extends), Thermostat (component)", deps_one)

    def deps_two():
        ms = list(c.list_models([ROOM, FLOOR], include_model_definition=True))
        eq(sorted(m.id for m in ms), sorted([ROOM, FLOOR, SPACE, THERMO]), "dependencies")
        assert all(m.model and m.model["@id"] == m.id for m in ms), "definitions missing"
    check("list_models dependencies_for=[Room, Floor] (repeated param) with definitions", deps_two)

    expect_error("list_models dependencies_for unknown -> ResourceNotFoundError",
                 lambda: c.list_models([f"{P}Nope;1"]), ResourceNotFoundError, 404)

    def list_all():
        ms = list(c.list_models(include_model_definition=True))
        ids = [m.id for m in ms]
        eq(len(ids), len(set(ids)), "no duplicates:")
        mine = [m for m in ms if m.id.startswith(P)]
        eq(len(mine), 6, "own models listed")
        assert all(m.model is not None for m in mine), "definition missing"
    check("list_models (all, with definitions)", list_all)

    def list_paged():
        opts = DigitalTwinModelsListOptions(max_items_per_page=2)
        pages = [list(p) for p in c.list_models(digital_twin_models_list_options=opts).by_page()]
        assert all(len(p) <= 2 for p in pages), f"page sizes {[len(p) for p in pages]}"
        ids = [m.id for p in pages for m in p]
        eq(len(ids), len(set(ids)), "no duplicates across pages:")
        full = sorted(m.id for m in c.list_models())
        eq(sorted(ids), full, "paged listing")
        assert len(pages) >= 3, f"only {len(pages)} pages"
    check("list_models with max-items-per-page=2 follows nextLink over every page", list_paged)

    def decommission():
        c.decommission_model(f"{P}Legacy;1")
        eq(c.get_model(f"{P}Legacy;1").decommissioned, True, "decommissioned")
    check("decommission_model", decommission)
    expect_error("upsert twin of decommissioned model -> 400 ModelDecommissioned",
                 lambda: c.upsert_digital_twin("py-legacy", {"$metadata": {"$model": f"{P}Legacy;1"}}),
                 HttpResponseError, 400, "ModelDecommissioned")
    expect_error("decommission_model unknown -> ResourceNotFoundError",
                 lambda: c.decommission_model(f"{P}Nope;1"), ResourceNotFoundError, 404)

    check("delete_model: dependent-free model", lambda: c.delete_model(f"{P}Unused;1"))
    expect_error("get_model after delete -> ResourceNotFoundError",
                 lambda: c.get_model(f"{P}Unused;1"), ResourceNotFoundError, 404)
    expect_error("delete_model again -> ResourceNotFoundError",
                 lambda: c.delete_model(f"{P}Unused;1"), ResourceNotFoundError, 404, "ModelNotFound")
    expect_error("delete_model extended by another -> ResourceExistsError (ModelReferencesNotDeleted)",
                 lambda: c.delete_model(SPACE), ResourceExistsError, 409, "ModelReferencesNotDeleted")
    expect_error("delete_model used as component -> ResourceExistsError (ModelReferencesNotDeleted)",
                 lambda: c.delete_model(THERMO), ResourceExistsError, 409, "ModelReferencesNotDeleted")


def twins(c):
    section("twins")
    state = {}

    def create():
        t = c.upsert_digital_twin("py-room-1", room_twin("one"))
        eq(t["$dtId"], "py-room-1", "$dtId")
        assert str(t.get("$etag", "")).startswith('W/"'), f"$etag {t.get('$etag')!r}"
        eq(t["$metadata"]["$model"], ROOM, "$model")
        eq(t["temperature"], 20.5, "temperature")
        eq(t["thermostat"]["setpoint"], 21.0, "component property")
        assert "$lastUpdateTime" in t["$metadata"], "$metadata.$lastUpdateTime missing"
        state["etag"] = t["$etag"]
    check("upsert_digital_twin (create) returns the stored twin with $etag", create)

    def get():
        t = c.get_digital_twin("py-room-1")
        eq(t["$dtId"], "py-room-1", "$dtId")
        eq(t["$etag"], state.get("etag"), "etag unchanged by read")
        eq(t["name"], "one", "name")
        eq(t["thermostat"]["setpoint"], 21.0, "component")
        assert "$model" not in t["thermostat"]["$metadata"], "component $metadata has $model"
    check("get_digital_twin", get)

    def body_id_ignored():
        body = room_twin("two")
        body["$dtId"] = "something-else"
        t = c.upsert_digital_twin("py-room-2", body)
        eq(t["$dtId"], "py-room-2", "$dtId from URL")
    check("upsert_digital_twin: $dtId in body ignored (URL wins)", body_id_ignored)

    expect_error("upsert IfMissing on existing twin -> ResourceExistsError (412)",
                 lambda: c.upsert_digital_twin("py-room-1", room_twin("x"),
                                               match_condition=MatchConditions.IfMissing),
                 ResourceExistsError, 412)
    check("upsert IfMissing on a new twin",
          lambda: c.upsert_digital_twin("py-room-3", room_twin("three"),
                                        match_condition=MatchConditions.IfMissing))

    def replace():
        old = etag_of(c, "py-room-3")
        t = c.upsert_digital_twin("py-room-3", {"$metadata": {"$model": ROOM}, "name": "three-b",
                                                "thermostat": {"$metadata": {}}})
        assert "temperature" not in t, "replace kept an omitted property"
        assert t["$etag"] != old, "etag did not change on replace"
        eq(c.get_digital_twin("py-room-3")["name"], "three-b", "replaced name")
    check("upsert_digital_twin (replace) drops omitted properties", replace)

    def update():
        old = etag_of(c, "py-room-1")
        headers = c.update_digital_twin("py-room-1", [
            {"op": "replace", "path": "/temperature", "value": 23.5},
            {"op": "add", "path": "/humidity", "value": 40.0},
        ], cls=headers_cls)
        t = c.get_digital_twin("py-room-1")
        eq(t["temperature"], 23.5, "temperature")
        eq(t["humidity"], 40.0, "humidity")
        assert t["$etag"] != old, "etag did not change"
        eq(headers.get("ETag"), t["$etag"], "ETag header of the PATCH 204")
        state["stale"] = old
    check("update_digital_twin (JSON patch) changes values and etag; ETag header", update)

    expect_error("update IfNotModified with stale etag -> ResourceModifiedError (412)",
                 lambda: c.update_digital_twin("py-room-1", [{"op": "replace", "path": "/temperature", "value": 1.0}],
                                               match_condition=MatchConditions.IfNotModified,
                                               etag=state.get("stale", 'W/"stale"')),
                 ResourceModifiedError, 412)
    check("update IfNotModified with the current etag",
          lambda: c.update_digital_twin("py-room-1", [{"op": "replace", "path": "/temperature", "value": 24.0}],
                                        match_condition=MatchConditions.IfNotModified,
                                        etag=etag_of(c, "py-room-1")))
    check("update IfPresent (If-Match: *)",
          lambda: c.update_digital_twin("py-room-1", [{"op": "replace", "path": "/name", "value": "one"}],
                                        match_condition=MatchConditions.IfPresent))
    check("update component property through the twin patch (/thermostat/setpoint)",
          lambda: (c.update_digital_twin("py-room-1", [{"op": "replace", "path": "/thermostat/setpoint", "value": 19.0}]),
                   eq(c.get_digital_twin("py-room-1")["thermostat"]["setpoint"], 19.0, "setpoint")))

    expect_error("update missing twin -> ResourceNotFoundError",
                 lambda: c.update_digital_twin("py-nope", [{"op": "add", "path": "/name", "value": "x"}]),
                 ResourceNotFoundError, 404, "DigitalTwinNotFound")
    expect_error("update with op 'move' -> 400 JsonPatchInvalid",
                 lambda: c.update_digital_twin("py-room-1", [{"op": "move", "from": "/name", "path": "/x"}]),
                 HttpResponseError, 400, "JsonPatchInvalid")
    expect_error("update with a wrong type -> 400 ValidationFailed",
                 lambda: c.update_digital_twin("py-room-1", [{"op": "replace", "path": "/temperature", "value": "hot"}]),
                 HttpResponseError, 400, "ValidationFailed")
    expect_error("upsert with unknown property -> 400 ValidationFailed",
                 lambda: c.upsert_digital_twin("py-bad", {**room_twin("x"), "colour": "red"}),
                 HttpResponseError, 400, "ValidationFailed")
    expect_error("upsert with wrong type -> 400 ValidationFailed",
                 lambda: c.upsert_digital_twin("py-bad", {**room_twin("x"), "temperature": "hot"}),
                 HttpResponseError, 400, "ValidationFailed")
    expect_error("upsert without a component -> 400 ValidationFailed",
                 lambda: c.upsert_digital_twin("py-bad", {"$metadata": {"$model": ROOM}}),
                 HttpResponseError, 400, "ValidationFailed")
    expect_error("upsert with an unknown model -> 400",
                 lambda: c.upsert_digital_twin("py-bad", {"$metadata": {"$model": f"{P}Nope;1"}}),
                 HttpResponseError, 400)
    expect_error("get missing twin -> ResourceNotFoundError (DigitalTwinNotFound)",
                 lambda: c.get_digital_twin("py-nope"), ResourceNotFoundError, 404, "DigitalTwinNotFound")

    odd = "py room:1;ä/x"

    def odd_id():
        t = c.upsert_digital_twin(odd, room_twin("odd"))
        eq(t["$dtId"], odd, "$dtId")
        eq(c.get_digital_twin(odd)["$dtId"], odd, "get $dtId")
        c.delete_digital_twin(odd)
    check("twin id with space, ':', ';', '/', non-ASCII (percent-encoded path segment)", odd_id)

    expect_error("delete IfNotModified with stale etag -> ResourceModifiedError",
                 lambda: c.delete_digital_twin("py-room-3", match_condition=MatchConditions.IfNotModified,
                                               etag='W/"00000000-0000-0000-0000-000000000000"'),
                 ResourceModifiedError, 412)
    check("delete IfNotModified with current etag",
          lambda: c.delete_digital_twin("py-room-3", match_condition=MatchConditions.IfNotModified,
                                        etag=etag_of(c, "py-room-3")))
    expect_error("get deleted twin -> ResourceNotFoundError",
                 lambda: c.get_digital_twin("py-room-3"), ResourceNotFoundError, 404)
    expect_error("delete deleted twin -> ResourceNotFoundError",
                 lambda: c.delete_digital_twin("py-room-3"), ResourceNotFoundError, 404, "DigitalTwinNotFound")

    def other_api_version():
        c2 = DigitalTwinsClient(URL, FixedToken(), api_version="2022-05-31", retry_total=0)
        eq(c2.get_digital_twin("py-room-1")["$dtId"], "py-room-1", "$dtId")
    check("api_version 2022-05-31 accepted", other_api_version)


def components(c):
    section("components")

    def get():
        comp = c.get_component("py-room-1", "thermostat")
        eq(comp["setpoint"], 19.0, "setpoint")
        assert "$metadata" in comp, "component $metadata missing"
    check("get_component", get)

    def update():
        old = etag_of(c, "py-room-1")
        headers = c.update_component("py-room-1", "thermostat",
                                     [{"op": "replace", "path": "/setpoint", "value": 22.0}], cls=headers_cls)
        eq(c.get_component("py-room-1", "thermostat")["setpoint"], 22.0, "component setpoint")
        t = c.get_digital_twin("py-room-1")
        eq(t["thermostat"]["setpoint"], 22.0, "twin view of the component")
        assert t["$etag"] != old, "twin etag did not change"
        eq(headers.get("ETag"), t["$etag"], "ETag header of the component PATCH")
    check("update_component (JSON patch relative to the component)", update)

    expect_error("update_component IfNotModified stale -> ResourceModifiedError",
                 lambda: c.update_component("py-room-1", "thermostat",
                                            [{"op": "replace", "path": "/setpoint", "value": 1.0}],
                                            match_condition=MatchConditions.IfNotModified,
                                            etag='W/"00000000-0000-0000-0000-000000000000"'),
                 ResourceModifiedError, 412)
    expect_error("get_component unknown component -> ResourceNotFoundError (ComponentNotFound)",
                 lambda: c.get_component("py-room-1", "nope"), ResourceNotFoundError, 404, "ComponentNotFound")
    expect_error("get_component unknown twin -> ResourceNotFoundError",
                 lambda: c.get_component("py-nope", "thermostat"), ResourceNotFoundError, 404)
    expect_error("update_component wrong type -> 400 ValidationFailed",
                 lambda: c.update_component("py-room-1", "thermostat",
                                            [{"op": "replace", "path": "/setpoint", "value": "warm"}]),
                 HttpResponseError, 400, "ValidationFailed")


def relationships(c):
    section("relationships")
    check("create floor twin", lambda: c.upsert_digital_twin("py-floor-1", floor_twin(1)))

    def create():
        r = c.upsert_relationship("py-floor-1", "py-rel-1", {
            "$relationshipName": "contains", "$targetId": "py-room-1", "since": "2020"})
        eq(r["$relationshipId"], "py-rel-1", "$relationshipId")
        eq(r["$sourceId"], "py-floor-1", "$sourceId")
        eq(r["$targetId"], "py-room-1", "$targetId")
        eq(r["$relationshipName"], "contains", "$relationshipName")
        eq(r["since"], "2020", "property")
        assert str(r.get("$etag", "")).startswith('W/"'), f"$etag {r.get('$etag')!r}"
        c.upsert_relationship("py-floor-1", "py-rel-2", {
            "$relationshipName": "contains", "$targetId": "py-room-2"})
        c.upsert_relationship("py-room-1", "py-adj-1", {
            "$relationshipName": "adjacentTo", "$targetId": "py-room-2", "distance": 3.5})
    check("upsert_relationship (inherited name, properties, own name)", create)

    def get():
        r = c.get_relationship("py-floor-1", "py-rel-1")
        eq((r["$sourceId"], r["$targetId"], r["since"]), ("py-floor-1", "py-room-1", "2020"), "relationship")
    check("get_relationship", get)
    expect_error("upsert_relationship IfMissing on existing -> ResourceExistsError",
                 lambda: c.upsert_relationship("py-floor-1", "py-rel-1",
                                               {"$relationshipName": "contains", "$targetId": "py-room-1"},
                                               match_condition=MatchConditions.IfMissing),
                 ResourceExistsError, 412)

    def lst():
        rs = list(c.list_relationships("py-floor-1"))
        eq(sorted(r["$relationshipId"] for r in rs), ["py-rel-1", "py-rel-2"], "outgoing")
        assert all("$etag" in r for r in rs), "list items lack $etag"
    check("list_relationships", lst)
    check("list_relationships by name (relationshipName=contains)",
          lambda: eq(len(list(c.list_relationships("py-floor-1", relationship_id="contains"))), 2, "count"))
    check("list_relationships by a name with no match",
          lambda: eq(len(list(c.list_relationships("py-floor-1", relationship_id="adjacentTo"))), 0, "count"))

    def incoming():
        inc = list(c.list_incoming_relationships("py-room-2"))
        eq(sorted((i.source_id, i.relationship_id, i.relationship_name) for i in inc),
           [("py-floor-1", "py-rel-2", "contains"), ("py-room-1", "py-adj-1", "adjacentTo")], "incoming")
        assert all(i.relationship_link for i in inc), "no $relationshipLink"
    check("list_incoming_relationships", incoming)
    expect_error("list_relationships of a missing twin -> ResourceNotFoundError",
                 lambda: c.list_relationships("py-nope"), ResourceNotFoundError, 404)
    expect_error("list_incoming_relationships of a missing twin -> ResourceNotFoundError",
                 lambda: c.list_incoming_relationships("py-nope"), ResourceNotFoundError, 404)

    def update():
        old = c.get_relationship("py-floor-1", "py-rel-1")["$etag"]
        headers = c.update_relationship("py-floor-1", "py-rel-1",
                                        [{"op": "replace", "path": "/since", "value": "2021"}], cls=headers_cls)
        r = c.get_relationship("py-floor-1", "py-rel-1")
        eq(r["since"], "2021", "since")
        assert r["$etag"] != old, "etag did not change"
        eq(headers.get("ETag"), r["$etag"], "ETag header")
    check("update_relationship", update)
    expect_error("update_relationship IfNotModified stale -> ResourceModifiedError",
                 lambda: c.update_relationship("py-floor-1", "py-rel-1",
                                               [{"op": "replace", "path": "/since", "value": "x"}],
                                               match_condition=MatchConditions.IfNotModified,
                                               etag='W/"00000000-0000-0000-0000-000000000000"'),
                 ResourceModifiedError, 412)
    expect_error("self relationship -> 400 OperationNotAllowed",
                 lambda: c.upsert_relationship("py-room-1", "py-self",
                                               {"$relationshipName": "adjacentTo", "$targetId": "py-room-1"}),
                 HttpResponseError, 400, "OperationNotAllowed")
    expect_error("missing target -> ResourceNotFoundError (TargetTwinNotFound)",
                 lambda: c.upsert_relationship("py-floor-1", "py-rel-x",
                                               {"$relationshipName": "contains", "$targetId": "py-nope"}),
                 ResourceNotFoundError, 404, "TargetTwinNotFound")
    expect_error("missing source -> ResourceNotFoundError (DigitalTwinNotFound)",
                 lambda: c.upsert_relationship("py-nope", "py-rel-x",
                                               {"$relationshipName": "contains", "$targetId": "py-room-1"}),
                 ResourceNotFoundError, 404, "DigitalTwinNotFound")
    expect_error("relationship name not on the model -> 400 InvalidRelationship",
                 lambda: c.upsert_relationship("py-floor-1", "py-rel-x",
                                               {"$relationshipName": "feeds", "$targetId": "py-room-1"}),
                 HttpResponseError, 400, "InvalidRelationship")
    expect_error("target of the wrong model -> 400 InvalidRelationship",
                 lambda: c.upsert_relationship("py-room-1", "py-rel-x",
                                               {"$relationshipName": "adjacentTo", "$targetId": "py-floor-1"}),
                 HttpResponseError, 400, "InvalidRelationship")
    expect_error("get missing relationship -> ResourceNotFoundError (RelationshipNotFound)",
                 lambda: c.get_relationship("py-floor-1", "py-nope"), ResourceNotFoundError, 404,
                 "RelationshipNotFound")
    expect_error("delete twin with relationships -> 400 RelationshipsNotDeleted",
                 lambda: c.delete_digital_twin("py-room-2"), HttpResponseError, 400, "RelationshipsNotDeleted")
    expect_error("delete_relationship IfNotModified stale -> ResourceModifiedError",
                 lambda: c.delete_relationship("py-room-1", "py-adj-1", match_condition=MatchConditions.IfNotModified,
                                               etag='W/"00000000-0000-0000-0000-000000000000"'),
                 ResourceModifiedError, 412)
    check("delete_relationship", lambda: c.delete_relationship("py-room-1", "py-adj-1"))
    expect_error("get deleted relationship -> ResourceNotFoundError",
                 lambda: c.get_relationship("py-room-1", "py-adj-1"), ResourceNotFoundError, 404)
    expect_error("delete deleted relationship -> ResourceNotFoundError",
                 lambda: c.delete_relationship("py-room-1", "py-adj-1"), ResourceNotFoundError, 404)


def telemetry(c):
    section("telemetry")
    check("publish_telemetry", lambda: c.publish_telemetry("py-room-1", {"temp": 22.1}))
    check("publish_telemetry with message_id",
          lambda: c.publish_telemetry("py-room-1", {"temp": 22.2}, message_id="py-msg-1"))
    check("publish_component_telemetry",
          lambda: c.publish_component_telemetry("py-room-1", "thermostat", {"temp": 21.0}))
    expect_error("publish_telemetry to a missing twin -> ResourceNotFoundError",
                 lambda: c.publish_telemetry("py-nope", {"temp": 1}), ResourceNotFoundError, 404)
    expect_error("publish_component_telemetry to a missing component -> ResourceNotFoundError",
                 lambda: c.publish_component_telemetry("py-room-1", "nope", {"temp": 1}),
                 ResourceNotFoundError, 404, "ComponentNotFound")


def query(c):
    section("query")
    n = 30

    def create():
        for i in range(n):
            c.upsert_digital_twin(f"py-q-{i:02d}", floor_twin(i, "paged"))
    check(f"create {n} twins for paging", create)
    q = "SELECT * FROM DIGITALTWINS T WHERE STARTSWITH(T.$dtId, 'py-q-')"

    def wait_for(expr, want, timeout=10.0):
        """Query is eventually consistent in ADT (up to 10 s): poll until it converges."""
        deadline = time.time() + timeout
        while True:
            got = list(c.query_twins(expr))
            if len(got) == want or time.time() > deadline:
                return got
            time.sleep(0.5)

    check("query all (default page size)", lambda: eq(len(wait_for(q, n)), n, "rows"))

    def paged():
        pages = [list(p) for p in c.query_twins(q, headers={"max-items-per-page": "7"}).by_page()]
        sizes = [len(p) for p in pages]
        assert all(s <= 7 for s in sizes), f"page sizes {sizes}"
        assert len(pages) >= 5, f"expected >= 5 pages, got {sizes}"
        ids = [t["$dtId"] for p in pages for t in p]
        eq(len(ids), n, "rows over all pages")
        eq(len(set(ids)), n, "distinct rows (no duplicates across pages)")
    check("query with max-items-per-page=7 iterates every continuationToken page", paged)

    def resume():
        pager = c.query_twins(q, headers={"max-items-per-page": "10"}).by_page()
        first = list(next(pager))
        token = pager.continuation_token
        assert token, "no continuation token after the first page"
        rest = [t for p in c.query_twins(q, headers={"max-items-per-page": "10"}).by_page(
            continuation_token=token) for t in p]
        eq(len(first) + len(rest), n, "rows (first page + resumed)")
    check("query resumed from a continuation token (by_page(continuation_token=…))", resume)

    check("SELECT COUNT()",
          lambda: eq(list(c.query_twins("SELECT COUNT() FROM DIGITALTWINS T WHERE STARTSWITH(T.$dtId, 'py-q-')")),
                     [{"COUNT": n}], "count"))
    check("projection",
          lambda: eq(list(c.query_twins("SELECT T.level FROM DIGITALTWINS T WHERE T.$dtId = 'py-q-03'")),
                     [{"level": 3}], "rows"))

    def join():
        rows = list(c.query_twins(
            "SELECT R, F FROM DIGITALTWINS F JOIN R RELATED F.contains WHERE F.$dtId = 'py-floor-1'"))
        eq(sorted(r["R"]["$dtId"] for r in rows), ["py-room-1", "py-room-2"], "joined twins")
    check("JOIN RELATED", join)

    def of_model():
        rows = list(c.query_twins(
            f"SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('{SPACE}') AND NOT STARTSWITH($dtId, 'py-q-')"))
        eq(sorted(r["$dtId"] for r in rows), ["py-floor-1", "py-room-1", "py-room-2"], "IS_OF_MODEL via extends")
    check("IS_OF_MODEL includes derived models", of_model)

    expect_error("invalid query -> 400 SqlQueryError",
                 lambda: c.query_twins("SELEKT * FROM DIGITALTWINS"), HttpResponseError, 400, "SqlQueryError")
    expect_error("invalid continuation token -> 400 BadRequest",
                 lambda: [x for p in c.query_twins(q).by_page(continuation_token="not-a-token") for x in p],
                 HttpResponseError, 400, "BadRequest")


def event_routes(c):
    section("event routes")
    flt = "type = 'Microsoft.DigitalTwins.Twin.Create'"
    check("upsert_event_route",
          lambda: c.upsert_event_route("py-route-1", DigitalTwinsEventRoute(endpoint_name="py-endpoint", filter=flt)))

    def get():
        r = c.get_event_route("py-route-1")
        eq((r.id, r.endpoint_name, r.filter), ("py-route-1", "py-endpoint", flt), "route")
    check("get_event_route", get)
    check("upsert_event_route (replace)",
          lambda: (c.upsert_event_route("py-route-1", DigitalTwinsEventRoute(endpoint_name="py-endpoint", filter="true")),
                   eq(c.get_event_route("py-route-1").filter, "true", "filter")))
    check("list_event_routes",
          lambda: eq([r.id for r in c.list_event_routes() if r.id.startswith("py-")], ["py-route-1"], "routes"))
    expect_error("upsert_event_route with an invalid filter -> 400 EventRouteFilterInvalid",
                 lambda: c.upsert_event_route("py-route-2", DigitalTwinsEventRoute(endpoint_name="py-endpoint",
                                                                                   filter="type = = 'x'")),
                 HttpResponseError, 400, "EventRouteFilterInvalid")
    check("delete_event_route", lambda: c.delete_event_route("py-route-1"))
    expect_error("get deleted route -> ResourceNotFoundError (EventRouteNotFound)",
                 lambda: c.get_event_route("py-route-1"), ResourceNotFoundError, 404, "EventRouteNotFound")
    expect_error("delete deleted route -> ResourceNotFoundError",
                 lambda: c.delete_event_route("py-route-1"), ResourceNotFoundError, 404)


def cleanup(c):
    section("cleanup")

    def run():
        for src, rel in [("py-floor-1", "py-rel-1"), ("py-floor-1", "py-rel-2")]:
            c.delete_relationship(src, rel)
        for t in ["py-room-1", "py-room-2", "py-floor-1"]:
            c.delete_digital_twin(t)
        eq(len(list(c.list_incoming_relationships("py-q-00"))), 0, "incoming")
    check("delete relationships then twins", run)


# ---------------------------------------------------------------------------------------------
# RealEstateCore

def load_ontology(folder):
    docs = []
    for path in sorted(Path(folder).rglob("*.json")):
        with open(path, encoding="utf-8-sig") as f:  # the files start with a BOM
            d = json.load(f)
        docs.extend(d if isinstance(d, list) else [d])
    return docs


def hard_deps(d):
    """What must be stored before (or with) d: extends and Component schemas."""
    out = set()
    ext = d.get("extends", [])
    for e in ext if isinstance(ext, list) else [ext]:
        if isinstance(e, str):
            out.add(e)
    for c in d.get("contents", []):
        t = c.get("@type")
        if "Component" in (t if isinstance(t, list) else [t]) and isinstance(c.get("schema"), str):
            out.add(c["schema"])
    return out


def dependency_order(docs):
    """Kahn's algorithm, deterministic; every model comes after what it extends or embeds."""
    by_id = {d["@id"]: d for d in docs}
    deps = {i: hard_deps(d) & by_id.keys() for i, d in by_id.items()}
    order, done = [], set()
    while len(order) < len(by_id):
        ready = sorted(i for i in by_id if i not in done and deps[i] <= done)
        if not ready:
            raise ValueError("dependency cycle among " + ", ".join(sorted(set(by_id) - done)[:5]))
        order.extend(ready)
        done.update(ready)
    return [by_id[i] for i in order]


def component_names(model_id, by_id):
    """Every Component of a model, inherited ones included: ADT requires each to be present
    (as {"$metadata": {}} at least) when a twin is created."""
    d = by_id[model_id]
    names = [x["name"] for x in d.get("contents", [])
             if "Component" in (x["@type"] if isinstance(x["@type"], list) else [x["@type"]])]
    ext = d.get("extends", [])
    for e in ext if isinstance(ext, list) else [ext]:
        if isinstance(e, str) and e in by_id:
            names += component_names(e, by_id)
    return sorted(set(names))


def ontology(c):
    section(f"RealEstateCore ontology ({ONTOLOGY})")
    docs = load_ontology(ONTOLOGY)
    print(f"  {len(docs)} models", flush=True)
    ordered = dependency_order(docs)
    batches = [ordered[i:i + 250] for i in range(0, len(ordered), 250)]
    started = time.time()
    for n, batch in enumerate(batches, 1):
        check(f"create_models batch {n}/{len(batches)} ({len(batch)} models)",
              lambda batch=batch: eq(len(c.create_models(batch)), len(batch), "models created"))
    print(f"  uploaded in {time.time() - started:.1f}s", flush=True)

    def listed():
        ids = {m.id for m in c.list_models() if m.id.startswith(REC)}
        eq(len(ids), len(docs), "RealEstateCore models listed (nextLink paging over 100-item pages)")
    check("list_models returns every ontology model", listed)

    def deps():
        ids = {m.id for m in c.list_models([f"{REC}core:Room;1"])}
        for want in [f"{REC}core:Room;1", f"{REC}core:Space;1"]:
            assert want in ids, f"{want} not in dependencies {sorted(ids)}"
    check("list_models dependencies_for an ontology model", deps)

    by_id = {d["@id"]: d for d in docs}

    def twin(model, **props):
        body = {"$metadata": {"$model": f"{REC}{model}"}, **props}
        for comp in component_names(f"{REC}{model}", by_id):
            body[comp] = {"$metadata": {}}
        return body

    def twins_of_it():
        b = c.upsert_digital_twin("py-rec-building", twin("core:Building;1"))
        eq(b["$metadata"]["$model"], f"{REC}core:Building;1", "$model")
        c.upsert_digital_twin("py-rec-level", twin("core:Level;1"))
        r = c.upsert_digital_twin("py-rec-room", twin("core:Room;1", personCapacity=12))
        eq(r["personCapacity"], 12, "inherited property")
        assert component_names(f"{REC}core:Room;1", by_id), "Room has no components?"
        c.upsert_relationship("py-rec-level", "isPartOf-1", {"$relationshipName": "isPartOf",
                                                             "$targetId": "py-rec-building"})
        c.upsert_relationship("py-rec-room", "isPartOf-1", {"$relationshipName": "isPartOf",
                                                            "$targetId": "py-rec-level"})
        sw = c.upsert_digital_twin("py-rec-switchgear", twin("asset:Switchgear;1"))
        assert "mainBus" in sw, "component mainBus missing from the stored twin"
    check("twins of ontology models (Building, Level, Room, Switchgear; every component) + isPartOf",
          twins_of_it)

    def q():
        rows = list(c.query_twins(
            f"SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('{REC}core:Space;1') AND STARTSWITH($dtId, 'py-rec-')"))
        eq(sorted(r["$dtId"] for r in rows), ["py-rec-building", "py-rec-level", "py-rec-room"], "Spaces")
    check("IS_OF_MODEL over the ontology's inheritance", q)


def main():
    print(f"python scenario: {URL} (CA {os.environ.get('REQUESTS_CA_BUNDLE')})", flush=True)
    # retry_total=0: a 5xx or 429 surfaces at once instead of being retried with backoff.
    client = DigitalTwinsClient(URL, FixedToken(), retry_total=0)
    for part in [models, twins, components, relationships, telemetry, query, event_routes, cleanup, ontology]:
        try:
            part(client)
        except Exception as e:  # noqa: BLE001 - a crash in the scenario itself is one failure
            traceback.print_exc()
            report(f"{part.__name__}: scenario crashed", False, describe(e))
    if FAILURES:
        print("failed checks:\n" + "\n".join(f"  - {f}" for f in FAILURES), flush=True)
    print(f"RESULT python passed={PASSED} failed={FAILED}", flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
