// Client-compatibility scenario: the official JavaScript SDK (@azure/digital-twins-core)
// against a running twingraph server over TLS.
//
// Run by scripts/sdk-test, which starts the server and sets:
//   TWINGRAPH_URL         https://127.0.0.1:PORT
//   NODE_EXTRA_CA_CERTS   the server's self-signed CA (how a user trusts it, sdk-wire.md §1.2)
//   SDK_REPO_ROOT         the repository root (to find ../shared/corpus/dtdl/building)
//
// Every check prints PASS or FAIL (with the request and the response that broke it) and the
// script ends with `RESULT js passed=N failed=M`; it exits 1 on any failure.
// Ids: models dtmi:sdkjs:*, twins/relationships/routes js-*; the RealEstateCore ontology is
// loaded renamed into dtmi:sdkjs:rec_3_3:* (the Python scenario loads the original ids).

import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { DigitalTwinsClient } from "@azure/digital-twins-core";

const URL_ = process.env.TWINGRAPH_URL ?? "https://127.0.0.1:8443";
const ROOT = process.env.SDK_REPO_ROOT ?? resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const ONTOLOGY = process.env.SDK_ONTOLOGY ?? join(ROOT, "..", "shared", "corpus", "dtdl", "building");
const REC_ORIG = "dtmi:digitaltwins:rec_3_3:";
const REC = "dtmi:sdkjs:rec_3_3:";
const P = "dtmi:sdkjs:";
const STALE = 'W/"00000000-0000-0000-0000-000000000000"';

// A TokenCredential returning one fixed token (sdk-wire.md §1.3).
const credential = {
  getToken: async () => ({ token: "sdk-test-token", expiresOnTimestamp: Date.now() + 3600_000 }),
};

// ------------------------------------------------------------------------------------------
// checks

let passed = 0;
let failed = 0;
const failures = [];

function describe(e) {
  if (e && e.name === "RestError") {
    const req = e.request ? `${e.request.method} ${e.request.url}` : "";
    const body = e.response?.bodyAsText ?? "";
    return `RestError status=${e.statusCode} code=${e.code} request=[${req}] body=${JSON.stringify(String(body).slice(0, 400))}`;
  }
  return `${e?.name ?? "Error"}: ${e?.message ?? e}`;
}

function report(name, ok, detail = "") {
  if (ok) {
    passed++;
    console.log(`  PASS ${name}`);
  } else {
    failed++;
    failures.push(name);
    console.log(`  FAIL ${name}: ${detail}`);
  }
}

async function check(name, fn) {
  try {
    const v = await fn();
    report(name, true);
    return v;
  } catch (e) {
    report(name, false, e instanceof AssertError ? `assertion: ${e.message}` : describe(e));
    return undefined;
  }
}

// fn must throw a RestError with this status (and service error code when given).
async function expectError(name, fn, status, code) {
  let got;
  try {
    got = await fn();
  } catch (e) {
    const problems = [];
    if (e?.name !== "RestError") problems.push("expected RestError");
    if (e?.statusCode !== status) problems.push(`expected status ${status}`);
    if (code !== undefined && e?.code !== code) problems.push(`expected code ${code}`);
    report(name, problems.length === 0, `${problems.join("; ")} -- got ${describe(e)}`);
    return;
  }
  report(name, false, `expected ${status} ${code ?? ""}, but the call succeeded: ${JSON.stringify(got)?.slice(0, 400)}`);
}

class AssertError extends Error {}
function assert(cond, msg) {
  if (!cond) throw new AssertError(msg);
}
function eq(a, b, what = "") {
  const ja = JSON.stringify(a);
  const jb = JSON.stringify(b);
  if (ja !== jb) throw new AssertError(`${what} expected ${jb}, got ${ja}`);
}
async function all(iter) {
  const out = [];
  for await (const x of iter) out.push(x);
  return out;
}
function section(t) {
  console.log(`-- ${t}`);
}
const sorted = (xs) => [...xs].sort();

// ------------------------------------------------------------------------------------------
// models used by the scenario

const prop = (name, schema) => ({ "@type": "Property", name, schema });
function iface(name, contents = [], extra = {}) {
  return { "@id": `${P}${name};1`, "@type": "Interface", "@context": "dtmi:dtdl:context;2", contents, ...extra };
}
const ROOM = `${P}Room;1`;
const FLOOR = `${P}Floor;1`;
const SPACE = `${P}Space;1`;
const THERMO = `${P}Thermostat;1`;
const MODELS = [
  iface("Thermostat", [prop("setpoint", "double"), { "@type": "Telemetry", name: "temp", schema: "double" }]),
  iface("Space", [prop("name", "string"), { "@type": "Relationship", name: "contains", properties: [prop("since", "string")] }]),
  iface(
    "Room",
    [
      prop("temperature", "double"),
      { "@type": "Component", name: "thermostat", schema: THERMO },
      { "@type": "Relationship", name: "adjacentTo", target: ROOM },
    ],
    { extends: SPACE, displayName: "Room" },
  ),
  iface("Floor", [prop("level", "integer")], { extends: SPACE, "@context": "dtmi:dtdl:context;3" }),
  iface("Unused", [prop("x", "integer")]),
  iface("Legacy", [prop("x", "integer")]),
];
const roomTwin = (name, setpoint = 21) =>
  JSON.stringify({ $metadata: { $model: ROOM }, name, temperature: 20.5, thermostat: { $metadata: {}, setpoint } });
const floorTwin = (level, name = "floor") => JSON.stringify({ $metadata: { $model: FLOOR }, name, level });

// ------------------------------------------------------------------------------------------

async function models(c) {
  section("models");
  await check("createModels: 6 models, inheritance + component, one batch", async () => {
    const out = await c.createModels(MODELS);
    eq(sorted(out.map((m) => m.id)), sorted(MODELS.map((m) => m["@id"])), "created ids");
    eq(out._response.status, 201, "status");
    eq(out.find((m) => m.id === ROOM).displayName, { en: "Room" }, "displayName");
  });
  await expectError("createModels: existing model -> 409 ModelAlreadyExists", () => c.createModels([MODELS[0]]), 409, "ModelAlreadyExists");
  await expectError(
    "createModels: unresolved extends -> 400 DTDLParserError",
    () => c.createModels([iface("Broken", [], { extends: `${P}DoesNotExist;1` })]),
    400,
    "DTDLParserError",
  );
  await check("getModel with and without definition", async () => {
    const m = await c.getModel(ROOM);
    eq(m.id, ROOM, "id");
    eq(m.model, undefined, "model without definition");
    const d = await c.getModel(ROOM, true);
    eq(d.model["@id"], ROOM, "model.@id");
  });
  await expectError("getModel unknown -> 404 ModelNotFound", () => c.getModel(`${P}Nope;1`), 404, "ModelNotFound");
  await check("listModels dependenciesFor=[Room, Floor] (comma-separated) with definitions", async () => {
    const ms = await all(c.listModels([ROOM, FLOOR], true));
    eq(sorted(ms.map((m) => m.id)), sorted([ROOM, FLOOR, SPACE, THERMO]), "dependencies");
    assert(ms.every((m) => m.model && m.model["@id"] === m.id), "definitions missing");
  });
  await check("listModels dependenciesFor=[Room]", async () => {
    eq(sorted((await all(c.listModels([ROOM]))).map((m) => m.id)), sorted([ROOM, SPACE, THERMO]), "dependencies");
  });
  await check("listModels byPage({maxPageSize: 2}) follows nextLink over every page", async () => {
    const pages = await all(c.listModels(undefined, false).byPage({ maxPageSize: 2 }));
    const sizes = pages.map((p) => p.value.length);
    assert(sizes.every((s) => s <= 2), `page sizes ${sizes}`);
    assert(pages.length >= 3, `only ${pages.length} pages`);
    const ids = pages.flatMap((p) => p.value.map((m) => m.id));
    eq(new Set(ids).size, ids.length, "no duplicates:");
    eq(sorted(ids), sorted((await all(c.listModels())).map((m) => m.id)), "paged listing");
  });
  await check("decomissionModel (sic) then getModel shows decommissioned", async () => {
    await c.decomissionModel(`${P}Legacy;1`);
    eq((await c.getModel(`${P}Legacy;1`)).decommissioned, true, "decommissioned");
  });
  await expectError(
    "upsert twin of decommissioned model -> 400 ModelDecommissioned",
    () => c.upsertDigitalTwin("js-legacy", JSON.stringify({ $metadata: { $model: `${P}Legacy;1` } })),
    400,
    "ModelDecommissioned",
  );
  await check("deleteModel: dependent-free model", () => c.deleteModel(`${P}Unused;1`));
  await expectError("getModel after delete -> 404", () => c.getModel(`${P}Unused;1`), 404, "ModelNotFound");
  await expectError("deleteModel extended by another -> 409 ModelReferencesNotDeleted", () => c.deleteModel(SPACE), 409, "ModelReferencesNotDeleted");
  await expectError("deleteModel used as component -> 409 ModelReferencesNotDeleted", () => c.deleteModel(THERMO), 409, "ModelReferencesNotDeleted");
}

async function twins(c) {
  section("twins");
  await check("upsertDigitalTwin (create): body, $etag and ETag header (.etag)", async () => {
    const r = await c.upsertDigitalTwin("js-room-1", roomTwin("one"));
    eq(r._response.status, 200, "status");
    eq(r.body.$dtId, "js-room-1", "$dtId");
    assert(String(r.body.$etag).startsWith('W/"'), `$etag ${r.body.$etag}`);
    eq(r.etag, r.body.$etag, "ETag header (.etag)");
  });
  await check("getDigitalTwin: body and .etag", async () => {
    const r = await c.getDigitalTwin("js-room-1");
    eq(r.body.thermostat.setpoint, 21, "component");
    eq(r.etag, r.body.$etag, "ETag header (.etag)");
  });
  await expectError(
    "upsert ifNoneMatch:* on an existing twin -> 412",
    () => c.upsertDigitalTwin("js-room-1", roomTwin("x"), { ifNoneMatch: "*" }),
    412,
  );
  await check("upsert ifNoneMatch:* on a new twin", () => c.upsertDigitalTwin("js-room-2", roomTwin("two"), { ifNoneMatch: "*" }));
  let stale;
  await check("updateDigitalTwin (JSON patch): 204 with new .etag", async () => {
    stale = (await c.getDigitalTwin("js-room-1")).etag;
    const r = await c.updateDigitalTwin("js-room-1", [{ op: "replace", path: "/temperature", value: 23.5 }]);
    eq(r._response.status, 204, "status");
    const t = await c.getDigitalTwin("js-room-1");
    eq(t.body.temperature, 23.5, "temperature");
    assert(t.etag !== stale, "etag did not change");
    eq(r.etag, t.etag, "ETag header of PATCH");
  });
  await expectError(
    "update ifMatch stale etag -> 412 (precondition)",
    () => c.updateDigitalTwin("js-room-1", [{ op: "replace", path: "/temperature", value: 1 }], { ifMatch: stale ?? STALE }),
    412,
  );
  await check("update ifMatch current etag", async () => {
    const { etag } = await c.getDigitalTwin("js-room-1");
    await c.updateDigitalTwin("js-room-1", [{ op: "add", path: "/name", value: "uno" }], { ifMatch: etag });
  });
  await check("update ifMatch:*", () => c.updateDigitalTwin("js-room-1", [{ op: "replace", path: "/name", value: "one" }], { ifMatch: "*" }));
  await expectError("update missing twin -> 404", () => c.updateDigitalTwin("js-nope", [{ op: "add", path: "/name", value: "x" }]), 404, "DigitalTwinNotFound");
  await expectError(
    "upsert unknown property -> 400 ValidationFailed",
    () => c.upsertDigitalTwin("js-bad", JSON.stringify({ ...JSON.parse(roomTwin("x")), colour: "red" })),
    400,
    "ValidationFailed",
  );
  await expectError(
    "update wrong type -> 400 ValidationFailed",
    () => c.updateDigitalTwin("js-room-1", [{ op: "replace", path: "/temperature", value: "hot" }]),
    400,
    "ValidationFailed",
  );
  await expectError("get missing twin -> 404 DigitalTwinNotFound", () => c.getDigitalTwin("js-nope"), 404, "DigitalTwinNotFound");
  const odd = "js room:1;ä/x";
  await check("twin id with space, ':', ';', '/', non-ASCII", async () => {
    eq((await c.upsertDigitalTwin(odd, roomTwin("odd"))).body.$dtId, odd, "$dtId");
    eq((await c.getDigitalTwin(odd)).body.$dtId, odd, "get");
    await c.deleteDigitalTwin(odd);
  });
  await check("upsert + delete ifMatch current etag", async () => {
    const r = await c.upsertDigitalTwin("js-room-3", roomTwin("three"));
    await expectError("delete ifMatch stale -> 412", () => c.deleteDigitalTwin("js-room-3", { ifMatch: STALE }), 412);
    const d = await c.deleteDigitalTwin("js-room-3", { ifMatch: r.etag });
    eq(d._response.status, 204, "status");
  });
  await expectError("get deleted twin -> 404", () => c.getDigitalTwin("js-room-3"), 404);
  await expectError("delete deleted twin -> 404", () => c.deleteDigitalTwin("js-room-3"), 404);
}

async function components(c) {
  section("components");
  await check("getComponent: body and .etag", async () => {
    const r = await c.getComponent("js-room-1", "thermostat");
    eq(r.body.setpoint, 21, "setpoint");
    assert(r.etag, "no ETag header on component GET");
  });
  await check("updateComponent", async () => {
    const r = await c.updateComponent("js-room-1", "thermostat", [{ op: "replace", path: "/setpoint", value: 22 }]);
    eq(r._response.status, 204, "status");
    eq((await c.getComponent("js-room-1", "thermostat")).body.setpoint, 22, "setpoint");
    const t = await c.getDigitalTwin("js-room-1");
    eq(t.body.thermostat.setpoint, 22, "twin view");
    eq(r.etag, t.etag, "ETag header of component PATCH");
  });
  await expectError(
    "updateComponent ifMatch stale -> 412",
    () => c.updateComponent("js-room-1", "thermostat", [{ op: "replace", path: "/setpoint", value: 1 }], { ifMatch: STALE }),
    412,
  );
  await expectError("getComponent unknown -> 404 ComponentNotFound", () => c.getComponent("js-room-1", "nope"), 404, "ComponentNotFound");
}

async function relationships(c) {
  section("relationships");
  await check("create floor twin", () => c.upsertDigitalTwin("js-floor-1", floorTwin(1)));
  await check("upsertRelationship: body and .etag", async () => {
    const r = await c.upsertRelationship("js-floor-1", "js-rel-1", { $relationshipName: "contains", $targetId: "js-room-1", since: "2020" });
    eq([r.body.$relationshipId, r.body.$sourceId, r.body.$targetId, r.body.since], ["js-rel-1", "js-floor-1", "js-room-1", "2020"], "relationship");
    eq(r.etag, r.body.$etag, "ETag header");
    await c.upsertRelationship("js-floor-1", "js-rel-2", { $relationshipName: "contains", $targetId: "js-room-2" });
    await c.upsertRelationship("js-room-1", "js-adj-1", { $relationshipName: "adjacentTo", $targetId: "js-room-2" });
  });
  await check("getRelationship", async () => {
    const r = await c.getRelationship("js-floor-1", "js-rel-1");
    eq(r.body.since, "2020", "since");
    eq(r.etag, r.body.$etag, "ETag header");
  });
  await expectError(
    "upsertRelationship ifNoneMatch:* on existing -> 412",
    () => c.upsertRelationship("js-floor-1", "js-rel-1", { $relationshipName: "contains", $targetId: "js-room-1" }, { ifNoneMatch: "*" }),
    412,
  );
  await check("listRelationships", async () => {
    eq(sorted((await all(c.listRelationships("js-floor-1"))).map((r) => r.$relationshipId)), ["js-rel-1", "js-rel-2"], "outgoing");
  });
  await check("listRelationships by name", async () => {
    eq((await all(c.listRelationships("js-room-1", { relationshipName: "adjacentTo" }))).length, 1, "adjacentTo");
    eq((await all(c.listRelationships("js-floor-1", { relationshipName: "adjacentTo" }))).length, 0, "none");
  });
  await check("listIncomingRelationships (camelCase items)", async () => {
    const inc = await all(c.listIncomingRelationships("js-room-2"));
    eq(
      sorted(inc.map((i) => `${i.sourceId}/${i.relationshipId}/${i.relationshipName}`)),
      ["js-floor-1/js-rel-2/contains", "js-room-1/js-adj-1/adjacentTo"],
      "incoming",
    );
    assert(inc.every((i) => i.relationshipLink), "relationshipLink missing");
  });
  await expectError("listRelationships of a missing twin -> 404", () => all(c.listRelationships("js-nope")), 404);
  await check("updateRelationship", async () => {
    const before = await c.getRelationship("js-floor-1", "js-rel-1");
    const r = await c.updateRelationship("js-floor-1", "js-rel-1", [{ op: "replace", path: "/since", value: "2021" }]);
    eq(r._response.status, 204, "status");
    const after = await c.getRelationship("js-floor-1", "js-rel-1");
    eq(after.body.since, "2021", "since");
    assert(after.etag !== before.etag, "etag did not change");
  });
  await expectError(
    "updateRelationship ifMatch stale -> 412",
    () => c.updateRelationship("js-floor-1", "js-rel-1", [{ op: "replace", path: "/since", value: "x" }], { ifMatch: STALE }),
    412,
  );
  await expectError(
    "self relationship -> 400 OperationNotAllowed",
    () => c.upsertRelationship("js-room-1", "js-self", { $relationshipName: "adjacentTo", $targetId: "js-room-1" }),
    400,
    "OperationNotAllowed",
  );
  await expectError(
    "missing target -> 404 TargetTwinNotFound",
    () => c.upsertRelationship("js-floor-1", "js-x", { $relationshipName: "contains", $targetId: "js-nope" }),
    404,
    "TargetTwinNotFound",
  );
  await expectError("get missing relationship -> 404 RelationshipNotFound", () => c.getRelationship("js-floor-1", "js-nope"), 404, "RelationshipNotFound");
  await expectError("delete twin with relationships -> 400 RelationshipsNotDeleted", () => c.deleteDigitalTwin("js-room-2"), 400, "RelationshipsNotDeleted");
  await expectError("deleteRelationship ifMatch stale -> 412", () => c.deleteRelationship("js-room-1", "js-adj-1", { ifMatch: STALE }), 412);
  await check("deleteRelationship", () => c.deleteRelationship("js-room-1", "js-adj-1"));
  await expectError("get deleted relationship -> 404", () => c.getRelationship("js-room-1", "js-adj-1"), 404);
}

async function telemetry(c) {
  section("telemetry");
  await check("publishTelemetry", async () => {
    eq((await c.publishTelemetry("js-room-1", { temp: 22.1 }, "js-msg-1"))._response.status, 204, "status");
  });
  // SDK bug (sdk-wire.md §5.3): payload and messageId are passed swapped to the generated
  // operation, so the arguments are swapped here to get a correct wire request.
  await check("publishComponentTelemetry (arguments swapped around the SDK bug)", async () => {
    eq((await c.publishComponentTelemetry("js-room-1", "thermostat", "js-msg-2", { temp: 21 }))._response.status, 204, "status");
  });
  await expectError("publishTelemetry to a missing twin -> 404", () => c.publishTelemetry("js-nope", { temp: 1 }, "js-msg-3"), 404);
  await expectError(
    "publishComponentTelemetry to a missing component -> 404 ComponentNotFound",
    () => c.publishComponentTelemetry("js-room-1", "nope", "js-msg-4", { temp: 1 }),
    404,
    "ComponentNotFound",
  );
}

async function query(c) {
  section("query");
  const n = 27;
  await check(`create ${n} twins for paging`, async () => {
    for (let i = 0; i < n; i++) await c.upsertDigitalTwin(`js-q-${String(i).padStart(2, "0")}`, floorTwin(i, "paged"));
  });
  const q = "SELECT * FROM DIGITALTWINS T WHERE STARTSWITH(T.$dtId, 'js-q-')";
  // Query is eventually consistent in ADT (up to 10 s): poll until it converges.
  const deadline = Date.now() + 10_000;
  let rows = await all(c.queryTwins(q)).catch(() => null);
  while (rows !== null && rows.length !== n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    rows = await all(c.queryTwins(q)).catch(() => null);
  }
  await check("queryTwins (default page size)", async () => eq((await all(c.queryTwins(q))).length, n, "rows"));
  await check("queryTwins(q, 5) sends max-items-per-page on every continuationToken page", async () => {
    const pages = await all(c.queryTwins(q, 5).byPage());
    const sizes = pages.map((p) => p.value.length);
    assert(sizes.every((s) => s <= 5), `page sizes ${sizes}`);
    assert(pages.length >= 6, `expected >= 6 pages, got ${sizes}`);
    const ids = pages.flatMap((p) => p.value.map((t) => t.$dtId));
    eq(ids.length, n, "rows");
    eq(new Set(ids).size, n, "distinct rows");
  });
  await check("SELECT COUNT()", async () => {
    eq(await all(c.queryTwins("SELECT COUNT() FROM DIGITALTWINS T WHERE STARTSWITH(T.$dtId, 'js-q-')")), [{ COUNT: n }], "count");
  });
  await check("JOIN RELATED", async () => {
    const rs = await all(c.queryTwins("SELECT R FROM DIGITALTWINS F JOIN R RELATED F.contains WHERE F.$dtId = 'js-floor-1'"));
    eq(sorted(rs.map((r) => r.R.$dtId)), ["js-room-1", "js-room-2"], "joined");
  });
  await expectError("invalid query -> 400 SqlQueryError", () => all(c.queryTwins("SELEKT * FROM DIGITALTWINS")), 400, "SqlQueryError");
}

async function eventRoutes(c) {
  section("event routes");
  const flt = "type = 'Microsoft.DigitalTwins.Twin.Create'";
  await check("upsertEventRoute", async () => eq((await c.upsertEventRoute("js-route-1", "js-endpoint", flt))._response.status, 204, "status"));
  await check("getEventRoute", async () => {
    const r = await c.getEventRoute("js-route-1");
    eq([r.id, r.endpointName, r.filter], ["js-route-1", "js-endpoint", flt], "route");
  });
  await check("listEventRoutes", async () => {
    eq((await all(c.listEventRoutes())).filter((r) => r.id.startsWith("js-")).map((r) => r.id), ["js-route-1"], "routes");
  });
  await check("deleteEventRoute", () => c.deleteEventRoute("js-route-1"));
  await expectError("getEventRoute deleted -> 404 EventRouteNotFound", () => c.getEventRoute("js-route-1"), 404, "EventRouteNotFound");
  await expectError("deleteEventRoute deleted -> 404", () => c.deleteEventRoute("js-route-1"), 404);
}

async function cleanup(c) {
  section("cleanup");
  await check("delete relationships then twins", async () => {
    await c.deleteRelationship("js-floor-1", "js-rel-1");
    await c.deleteRelationship("js-floor-1", "js-rel-2");
    for (const t of ["js-room-1", "js-room-2", "js-floor-1"]) await c.deleteDigitalTwin(t);
  });
}

// ------------------------------------------------------------------------------------------
// RealEstateCore, renamed into dtmi:sdkjs:rec_3_3:*

function jsonFiles(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return jsonFiles(p);
      return name.endsWith(".json") ? [p] : [];
    });
}

function hardDeps(d) {
  const out = new Set();
  const ext = d.extends === undefined ? [] : [].concat(d.extends);
  for (const e of ext) if (typeof e === "string") out.add(e);
  for (const c of d.contents ?? []) {
    const types = [].concat(c["@type"]);
    if (types.includes("Component") && typeof c.schema === "string") out.add(c.schema);
  }
  return out;
}

function dependencyOrder(docs) {
  const byId = new Map(docs.map((d) => [d["@id"], d]));
  const done = new Set();
  const order = [];
  while (order.length < byId.size) {
    const ready = [...byId.keys()]
      .filter((id) => !done.has(id) && [...hardDeps(byId.get(id))].every((x) => done.has(x) || !byId.has(x)))
      .sort();
    if (ready.length === 0) throw new Error("dependency cycle in the ontology");
    for (const id of ready) done.add(id);
    order.push(...ready);
  }
  return order.map((id) => byId.get(id));
}

// Every Component of a model, inherited ones included: ADT requires each to be present (as
// {"$metadata": {}} at least) when a twin is created.
function componentNames(id, byId) {
  const d = byId.get(id);
  const names = (d.contents ?? []).filter((x) => [].concat(x["@type"]).includes("Component")).map((x) => x.name);
  for (const e of d.extends === undefined ? [] : [].concat(d.extends)) {
    if (typeof e === "string" && byId.has(e)) names.push(...componentNames(e, byId));
  }
  return [...new Set(names)].sort();
}

async function ontology(c) {
  section(`RealEstateCore ontology, renamed to ${REC}* (${ONTOLOGY})`);
  const docs = jsonFiles(ONTOLOGY).flatMap((p) => {
    const text = readFileSync(p, "utf8").replace(/^\uFEFF/, "").replaceAll(REC_ORIG, REC);
    return [].concat(JSON.parse(text));
  });
  console.log(`  ${docs.length} models`);
  const ordered = dependencyOrder(docs);
  const started = Date.now();
  for (let i = 0, n = 1; i < ordered.length; i += 250, n++) {
    const batch = ordered.slice(i, i + 250);
    await check(`createModels batch ${n}/${Math.ceil(ordered.length / 250)} (${batch.length} models)`, async () => {
      eq((await c.createModels(batch)).length, batch.length, "models created");
    });
  }
  console.log(`  uploaded in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  await check("listModels returns every ontology model (nextLink paging)", async () => {
    const ids = (await all(c.listModels())).map((m) => m.id).filter((id) => id.startsWith(REC));
    eq(new Set(ids).size, docs.length, "ontology models listed");
  });
  const byId = new Map(docs.map((d) => [d["@id"], d]));
  const twin = (model, props = {}) => {
    const body = { $metadata: { $model: `${REC}${model}` }, ...props };
    for (const comp of componentNames(`${REC}${model}`, byId)) body[comp] = { $metadata: {} };
    return JSON.stringify(body);
  };
  await check("twins of ontology models + isPartOf relationship", async () => {
    await c.upsertDigitalTwin("js-rec-level", twin("core:Level;1"));
    const r = await c.upsertDigitalTwin("js-rec-room", twin("core:Room;1", { personCapacity: 8 }));
    eq(r.body.personCapacity, 8, "inherited property");
    await c.upsertRelationship("js-rec-room", "isPartOf-1", { $relationshipName: "isPartOf", $targetId: "js-rec-level" });
  });
  await check("IS_OF_MODEL over the renamed ontology", async () => {
    const rs = await all(c.queryTwins(`SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('${REC}core:Space;1')`));
    eq(sorted(rs.map((t) => t.$dtId)), ["js-rec-level", "js-rec-room"], "Spaces");
  });
}

async function main() {
  console.log(`js scenario: ${URL_} (CA ${process.env.NODE_EXTRA_CA_CERTS})`);
  // maxRetries 0: a 5xx surfaces at once instead of being retried with backoff.
  const client = new DigitalTwinsClient(URL_, credential, { retryOptions: { maxRetries: 0 } });
  for (const part of [models, twins, components, relationships, telemetry, query, eventRoutes, cleanup, ontology]) {
    try {
      await part(client);
    } catch (e) {
      console.log(e?.stack ?? e);
      report(`${part.name}: scenario crashed`, false, describe(e));
    }
  }
  if (failures.length) console.log("failed checks:\n" + failures.map((f) => `  - ${f}`).join("\n"));
  console.log(`RESULT js passed=${passed} failed=${failed}`);
  process.exitCode = failed ? 1 : 0;
}

await main();
