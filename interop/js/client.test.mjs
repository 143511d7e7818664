// A third-party FHIR client library, used as its documentation says and
// nothing more, against a running gateway:
//
//   SIGNPOST_FHIR_BASE=http://127.0.0.1:8080/fhir node --test client.test.mjs
//
// fhir-kit-client (npm) is used through its public API only: Client and
// its methods, Client.httpFor for the HTTP status and headers of an
// answer, and the per-request options it documents (headers, signal,
// postSearch). Its version-aware update is the documented way of sending
// If-Match: fhir-kit-client has no dedicated call for it, so update() is
// given the header in its request options.
//
// Everything is written with a marker unique to the run (an identifier
// system), so the checks hold on a gateway that already holds data.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';

import { Client } from 'fhir-kit-client';

const TIMEOUT_MS = Number(process.env.SIGNPOST_INTEROP_REQUEST_TIMEOUT_MS || 20000);
const TASKS = 7;
const PAGE = 3;

const marker = `https://signpost.example/fhir/sid/interop-run-${randomUUID()}`;
let client;
let patient;
const tasks = [];

/** Per-request options: a deadline on every call, plus extra headers. */
function opts(headers) {
  return { signal: AbortSignal.timeout(TIMEOUT_MS), ...(headers ? { headers } : {}) };
}

/** The HTTP status of a fhir-kit-client answer. */
function statusOf(resource) {
  return Client.httpFor(resource).response?.status;
}

function headerOf(resource, name) {
  return Client.httpFor(resource).response?.headers.get(name);
}

/** Runs fn, which must fail with the given HTTP status; returns the error. */
async function expectStatus(status, fn, what) {
  try {
    await fn();
  } catch (err) {
    assert.equal(err.response?.status, status, `${what}: want HTTP ${status}, got ${err.response?.status ?? err.message}: ${JSON.stringify(err.response?.data)?.slice(0, 300)}`);
    return err;
  }
  assert.fail(`${what}: want HTTP ${status}, but it succeeded`);
}

function taskBody(i) {
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    priority: 'routine',
    identifier: [{ system: marker, value: `task-${i}` }],
    for: { reference: `Patient/${patient.id}` },
    // Distinct authoredOn values, so the sorted search has one right order.
    authoredOn: new Date(Date.UTC(2024, 0, 1, 9, i)).toISOString(),
    description: `interop check task ${i}`,
  };
}

/** Stops a test that needs what 'create a Patient and Tasks' made. */
function needCreated() {
  assert.ok(patient?.id && tasks.length >= TASKS, "nothing to work on: the test 'create a Patient and Tasks' failed");
}

/** Reads every page of a search through nextPage; returns the pages. */
async function allPages(first) {
  const pages = [first];
  for (let page = client.nextPage({ bundle: first, options: opts() }); page; ) {
    const b = await page;
    pages.push(b);
    assert.ok(pages.length <= 100, 'more than 100 pages: the next links do not end');
    page = client.nextPage({ bundle: b, options: opts() });
  }
  return pages;
}

function matchIds(pages) {
  return pages.flatMap((b) => (b.entry ?? []).filter((e) => (e.search?.mode ?? 'match') === 'match').map((e) => e.resource.id));
}

before(() => {
  const baseUrl = process.env.SIGNPOST_FHIR_BASE;
  assert.ok(baseUrl, 'SIGNPOST_FHIR_BASE is not set: give the FHIR base of a running gateway, e.g. http://127.0.0.1:8080/fhir');
  client = new Client({ baseUrl });
});

describe('fhir-kit-client against the gateway', { concurrency: false }, () => {
  test('capabilityStatement', async () => {
    const cs = await client.capabilityStatement(opts());
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.equal(cs.fhirVersion, '4.0.1');
    const rest = cs.rest?.find((r) => r.mode === 'server') ?? cs.rest?.[0];
    assert.ok(rest, 'no rest entry');
    const byType = Object.fromEntries((rest.resource ?? []).map((r) => [r.type, r]));
    for (const type of ['Patient', 'Task']) {
      const r = byType[type];
      assert.ok(r, `${type} is not in the CapabilityStatement`);
      const interactions = (r.interaction ?? []).map((i) => i.code);
      for (const code of ['read', 'create', 'update', 'patch', 'delete', 'search-type']) {
        assert.ok(interactions.includes(code), `${type} does not list the ${code} interaction (has ${interactions})`);
      }
    }
    const taskParams = (byType.Task.searchParam ?? []).map((p) => p.name);
    for (const p of ['identifier', 'patient', 'status', 'authored-on']) {
      assert.ok(taskParams.includes(p), `Task search parameter ${p} is not listed`);
    }
    const system = (rest.interaction ?? []).map((i) => i.code);
    assert.ok(system.includes('transaction') && system.includes('batch'), `system interactions ${system}`);
  });

  test('create a Patient and Tasks', async () => {
    patient = await client.create({
      resourceType: 'Patient',
      body: { resourceType: 'Patient', identifier: [{ system: marker, value: 'patient' }], name: [{ family: 'Interop', given: ['Kit'] }], gender: 'unknown' },
      options: opts(),
    });
    assert.equal(statusOf(patient), 201);
    assert.ok(patient.id, 'the created Patient has no id');
    assert.equal(patient.meta?.versionId, '1');
    assert.match(headerOf(patient, 'location') ?? '', new RegExp(`/Patient/${patient.id}(/_history/1)?$`));
    for (let i = 0; i < TASKS; i++) {
      const t = await client.create({ resourceType: 'Task', body: taskBody(i), options: opts() });
      assert.equal(statusOf(t), 201);
      assert.equal(t.for?.reference, `Patient/${patient.id}`);
      tasks.push(t);
    }
    assert.equal(new Set(tasks.map((t) => t.id)).size, TASKS, 'two creates gave the same id');
  });

  test('read and vread', async () => {
    needCreated();
    const p = await client.read({ resourceType: 'Patient', id: patient.id, options: opts() });
    assert.equal(p.id, patient.id);
    assert.equal(p.name?.[0]?.family, 'Interop');
    assert.equal(headerOf(p, 'etag'), 'W/"1"');
    const t = await client.read({ resourceType: 'Task', id: tasks[0].id, options: opts() });
    assert.deepEqual(t.identifier, [{ system: marker, value: 'task-0' }]);
    const v = await client.vread({ resourceType: 'Task', id: tasks[0].id, version: '1', options: opts() });
    assert.equal(v.meta?.versionId, '1');
  });

  test('version-aware update (If-Match), and a stale one refused', async () => {
    needCreated();
    const current = await client.read({ resourceType: 'Patient', id: patient.id, options: opts() });
    const etag = `W/"${current.meta.versionId}"`;
    const changed = { ...current, name: [{ family: 'Interop', given: ['Kit', 'Updated'] }] };
    const updated = await client.update({ resourceType: 'Patient', id: patient.id, body: changed, options: opts({ 'If-Match': etag }) });
    assert.equal(statusOf(updated), 200);
    assert.equal(updated.meta?.versionId, String(Number(current.meta.versionId) + 1));
    assert.deepEqual(updated.name[0].given, ['Kit', 'Updated']);
    // The same If-Match again is now stale.
    await expectStatus(412, () => client.update({ resourceType: 'Patient', id: patient.id, body: changed, options: opts({ 'If-Match': etag }) }), 'update with a stale If-Match');
    const after = await client.read({ resourceType: 'Patient', id: patient.id, options: opts() });
    assert.equal(after.meta.versionId, updated.meta.versionId, 'the stale update changed the Patient');
  });

  test('search with parameters, every page through nextPage', async () => {
    needCreated();
    const want = tasks.map((t) => t.id).sort();
    const first = await client.search({
      resourceType: 'Task',
      searchParams: { identifier: `${marker}|`, patient: `Patient/${patient.id}`, status: 'requested', _count: PAGE },
      options: opts(),
    });
    assert.equal(first.resourceType, 'Bundle');
    assert.equal(first.type, 'searchset');
    const pages = await allPages(first);
    const seen = matchIds(pages);
    assert.equal(pages.length, Math.ceil(TASKS / PAGE), `pages of ${PAGE}`);
    assert.deepEqual([...seen].sort(), want, 'every created Task once, and nothing else');
    assert.equal(new Set(seen).size, seen.length, 'a Task was served on two pages');
    if (typeof first.total === 'number') assert.equal(first.total, TASKS);
    // And back: prevPage from the last page gives the page before it.
    const back = client.prevPage({ bundle: pages.at(-1), options: opts() });
    assert.ok(back, 'the last page has no previous link');
    assert.deepEqual(matchIds([await back]), matchIds([pages.at(-2)]));
  });

  test('sorted search, paged, and the same by POST _search', async () => {
    needCreated();
    const searchParams = { identifier: `${marker}|`, _sort: '-authored-on', _count: PAGE };
    const want = [...tasks].sort((a, b) => (a.authoredOn < b.authoredOn ? 1 : -1)).map((t) => t.id);
    const got = matchIds(await allPages(await client.search({ resourceType: 'Task', searchParams, options: opts() })));
    assert.deepEqual(got, want, 'Tasks newest first');
    const posted = await client.search({ resourceType: 'Task', searchParams, options: { ...opts(), postSearch: true } });
    assert.deepEqual(matchIds(await allPages(posted)), want, 'POST Task/_search');
  });

  test('patch with JSON Patch, honouring If-Match', async () => {
    needCreated();
    const t = tasks[1];
    const patched = await client.patch({
      resourceType: 'Task',
      id: t.id,
      jsonPatch: [
        { op: 'test', path: '/status', value: 'requested' },
        { op: 'replace', path: '/status', value: 'cancelled' },
        { op: 'add', path: '/note', value: [{ text: 'patched by the interop check' }] },
      ],
      options: opts({ 'If-Match': `W/"${t.meta.versionId}"` }),
    });
    assert.equal(statusOf(patched), 200);
    assert.equal(patched.status, 'cancelled');
    assert.equal(patched.meta?.versionId, '2');
    const read = await client.read({ resourceType: 'Task', id: t.id, options: opts() });
    assert.equal(read.status, 'cancelled');
    assert.equal(read.note?.[0]?.text, 'patched by the interop check');
    // A failing test operation is refused (R4 via RFC 6902: the whole patch fails).
    await expectStatus(
      422,
      () =>
        client.patch({
          resourceType: 'Task',
          id: t.id,
          jsonPatch: [
            { op: 'test', path: '/status', value: 'requested' },
            { op: 'replace', path: '/status', value: 'completed' },
          ],
          options: opts(),
        }),
      'a JSON Patch whose test operation fails',
    );
    const still = await client.read({ resourceType: 'Task', id: t.id, options: opts() });
    assert.equal(still.status, 'cancelled', 'a failed JSON Patch changed the Task');
  });

  test('transaction with urn:uuid references', async () => {
    needCreated();
    const patientUrn = `urn:uuid:${randomUUID()}`;
    const taskUrn = `urn:uuid:${randomUUID()}`;
    const res = await client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: taskUrn,
            resource: { ...taskBody(100), for: { reference: patientUrn } },
            request: { method: 'POST', url: 'Task' },
          },
          {
            fullUrl: patientUrn,
            resource: { resourceType: 'Patient', identifier: [{ system: marker, value: 'tx-patient' }], name: [{ family: 'Transaction' }] },
            request: { method: 'POST', url: 'Patient' },
          },
          {
            resource: { ...taskBody(101), id: tasks[2].id, status: 'in-progress', meta: undefined },
            request: { method: 'PUT', url: `Task/${tasks[2].id}` },
          },
        ],
      },
      options: opts(),
    });
    assert.equal(res.resourceType, 'Bundle');
    assert.equal(res.type, 'transaction-response');
    assert.equal(res.entry?.length, 3);
    const [taskEntry, patientEntry, putEntry] = res.entry;
    assert.match(taskEntry.response?.status ?? '', /^201/);
    assert.match(patientEntry.response?.status ?? '', /^201/);
    assert.match(putEntry.response?.status ?? '', /^200/);
    const newPatient = patientEntry.response.location.match(/Patient\/([^/]+)/)?.[1];
    const newTask = taskEntry.response.location.match(/Task\/([^/]+)/)?.[1];
    assert.ok(newPatient && newTask, `locations ${patientEntry.response.location}, ${taskEntry.response.location}`);
    const t = await client.read({ resourceType: 'Task', id: newTask, options: opts() });
    assert.equal(t.for?.reference, `Patient/${newPatient}`, 'the urn:uuid reference was not rewritten');
    const p = await client.resolve({ reference: t.for.reference, options: opts() });
    assert.equal(p.resourceType, 'Patient');
    assert.equal(p.name?.[0]?.family, 'Transaction');
    const updated = await client.read({ resourceType: 'Task', id: tasks[2].id, options: opts() });
    assert.equal(updated.status, 'in-progress');
    tasks.push(t);
  });

  test('a failing transaction changes nothing', async () => {
    needCreated();
    const before = await client.read({ resourceType: 'Patient', id: patient.id, options: opts() });
    await expectStatus(
      412,
      () =>
        client.transaction({
          body: {
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [
              { resource: { ...before, gender: 'other' }, request: { method: 'PUT', url: `Patient/${patient.id}` } },
              // Stale If-Match: the whole transaction must fail.
              { resource: { ...tasks[0], status: 'on-hold' }, request: { method: 'PUT', url: `Task/${tasks[0].id}`, ifMatch: 'W/"999"' } },
            ],
          },
          options: opts(),
        }),
      'a transaction with a stale ifMatch',
    );
    const after = await client.read({ resourceType: 'Patient', id: patient.id, options: opts() });
    assert.equal(after.meta.versionId, before.meta.versionId, 'the failed transaction wrote its first entry');
    assert.equal(after.gender, before.gender);
  });

  test('batch: entries independent, each with its own status', async () => {
    needCreated();
    const res = await client.batch({
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: taskBody(200), request: { method: 'POST', url: 'Task' } },
          { request: { method: 'GET', url: `Task/${randomUUID()}` } },
          { request: { method: 'GET', url: `Task?identifier=${encodeURIComponent(`${marker}|task-0`)}` } },
        ],
      },
      options: opts(),
    });
    assert.equal(res.type, 'batch-response');
    assert.equal(res.entry?.length, 3);
    assert.match(res.entry[0].response?.status ?? '', /^201/);
    assert.match(res.entry[1].response?.status ?? '', /^404/);
    assert.equal(res.entry[1].response?.outcome?.resourceType ?? 'OperationOutcome', 'OperationOutcome');
    assert.match(res.entry[2].response?.status ?? '', /^200/);
    const found = res.entry[2].resource;
    assert.equal(found?.resourceType, 'Bundle');
    assert.deepEqual((found.entry ?? []).map((e) => e.resource.id), [tasks[0].id]);
    const created = res.entry[0].response.location.match(/Task\/([^/]+)/)?.[1];
    assert.ok(created);
    tasks.push({ id: created });
  });

  test('conditional create with If-None-Exist finds the existing resource', async () => {
    needCreated();
    const again = await client.create({
      resourceType: 'Patient',
      body: { resourceType: 'Patient', identifier: [{ system: marker, value: 'patient' }] },
      options: opts({ 'If-None-Exist': `identifier=${encodeURIComponent(`${marker}|patient`)}` }),
    });
    assert.equal(statusOf(again), 200);
    assert.equal(again.id, patient.id);
  });

  test('delete, then reads are Gone', async () => {
    needCreated();
    for (const t of tasks) {
      const res = await client.delete({ resourceType: 'Task', id: t.id, options: opts() });
      assert.ok([200, 204].includes(statusOf(res)), `delete Task/${t.id}: ${statusOf(res)}`);
    }
    await expectStatus(410, () => client.read({ resourceType: 'Task', id: tasks[0].id, options: opts() }), 'read of a deleted Task');
    const left = await client.search({ resourceType: 'Task', searchParams: { identifier: `${marker}|` }, options: opts() });
    assert.deepEqual(matchIds(await allPages(left)), [], 'deleted Tasks still found by search');
  });
});
