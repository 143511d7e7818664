// fhir-kit-client, unmodified and through its public API only, driving
// what clients built on it use beyond CRUD: Patient compartment search
// (Client.compartmentSearch, and search with a compartment), the
// Patient/{id}/$everything and $validate operations (Client.operation),
// and system search with _type (Client.systemSearch), each followed
// through nextPage. Against a running gateway:
//
//   SIGNPOST_FHIR_BASE=http://127.0.0.1:8080/fhir node --test operations.test.mjs
//
// Every resource is tagged with a tag unique to the run, and the answers
// are checked id for id, so the checks hold on a gateway that already
// holds data.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';

import { Client } from 'fhir-kit-client';

const TIMEOUT_MS = Number(process.env.SIGNPOST_INTEROP_REQUEST_TIMEOUT_MS || 20000);
const PAGE = 2;

const run = randomUUID();
const tag = { system: 'https://signpost.example/fhir/CodeSystem/interop-run', code: run };
const LOINC = 'http://loinc.org';

let client;
// What the test writes: two patients, and for the first a record of
// several types; the second patient's Observation must never appear in
// the first's compartment or $everything.
const made = { patient: null, other: null, observations: [], condition: null, encounter: null, task: null, otherObservation: null };

function opts(headers) {
  return { signal: AbortSignal.timeout(TIMEOUT_MS), ...(headers ? { headers } : {}) };
}

function statusOf(resource) {
  return Client.httpFor(resource).response?.status;
}

async function expectStatus(status, fn, what) {
  try {
    await fn();
  } catch (err) {
    assert.equal(err.response?.status, status, `${what}: want HTTP ${status}, got ${err.response?.status ?? err.message}: ${JSON.stringify(err.response?.data)?.slice(0, 300)}`);
    return err;
  }
  assert.fail(`${what}: want HTTP ${status}, but it succeeded`);
}

/** Reads every page through nextPage; returns the pages. */
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

/** The type/id of every match entry of the pages, in order. */
function matches(pages) {
  return pages.flatMap((b) => (b.entry ?? []).filter((e) => (e.search?.mode ?? 'match') === 'match').map((e) => `${e.resource.resourceType}/${e.resource.id}`));
}

const ref = (r) => `${r.resourceType}/${r.id}`;

async function create(body) {
  const r = await client.create({ resourceType: body.resourceType, body: { ...body, meta: { tag: [tag] } }, options: opts() });
  assert.equal(statusOf(r), 201, `create ${body.resourceType}`);
  return r;
}

function observation(patient, code, value) {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: LOINC, code }] },
    subject: { reference: ref(patient) },
    valueQuantity: { value, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
  };
}

function needMade() {
  assert.ok(made.patient && made.observations.length === 3 && made.task, "nothing to work on: the test 'create two patients and a record' failed");
}

/** The issues of an OperationOutcome of a given severity. */
function issues(outcome, severity) {
  assert.equal(outcome.resourceType, 'OperationOutcome', JSON.stringify(outcome).slice(0, 300));
  return (outcome.issue ?? []).filter((i) => i.severity === severity);
}

before(() => {
  const baseUrl = process.env.SIGNPOST_FHIR_BASE;
  assert.ok(baseUrl, 'SIGNPOST_FHIR_BASE is not set: give the FHIR base of a running gateway, e.g. http://127.0.0.1:8080/fhir');
  client = new Client({ baseUrl });
});

describe('fhir-kit-client: compartments, $everything, $validate, system search', { concurrency: false }, () => {
  test('the CapabilityStatement lists them', async () => {
    const cs = await client.capabilityStatement(opts());
    const rest = cs.rest?.find((r) => r.mode === 'server') ?? cs.rest?.[0];
    assert.deepEqual(rest.compartment, ['http://hl7.org/fhir/CompartmentDefinition/patient']);
    assert.ok((rest.interaction ?? []).some((i) => i.code === 'search-system'), 'search-system is not listed');
    const patient = rest.resource.find((r) => r.type === 'Patient');
    const ops = (patient.operation ?? []).map((o) => o.name);
    assert.ok(ops.includes('everything') && ops.includes('validate'), `Patient operations: ${ops}`);
  });

  test('create two patients and a record', async () => {
    made.patient = await create({ resourceType: 'Patient', name: [{ family: 'Compartment', given: ['Kit'] }], gender: 'female', birthDate: '1970-01-01' });
    made.other = await create({ resourceType: 'Patient', name: [{ family: 'Other', given: ['Kit'] }] });
    made.observations.push(await create(observation(made.patient, '8480-6', 120)));
    made.observations.push(await create(observation(made.patient, '8480-6', 135)));
    made.observations.push(await create(observation(made.patient, '8462-4', 80)));
    made.otherObservation = await create(observation(made.other, '8480-6', 150));
    made.condition = await create({
      resourceType: 'Condition',
      code: { text: 'Hypertension' },
      subject: { reference: ref(made.patient) },
    });
    made.encounter = await create({
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: ref(made.patient) },
    });
    made.task = await create({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: ref(made.patient) } });
  });

  test('compartment search: Patient/{id}/Observation and Patient/{id}/Condition', async () => {
    needMade();
    const want = made.observations.map(ref).sort();
    const first = await client.compartmentSearch({
      resourceType: 'Observation',
      compartment: { resourceType: 'Patient', id: made.patient.id },
      searchParams: { _count: PAGE },
      options: opts(),
    });
    assert.equal(first.type, 'searchset');
    const pages = await allPages(first);
    assert.equal(pages.length, 2, `three Observations in pages of ${PAGE}`);
    assert.deepEqual(matches(pages).sort(), want, "the patient's Observations, not the other patient's");
    for (const link of first.link ?? []) {
      assert.match(link.url, new RegExp(`/Patient/${made.patient.id}/Observation`), `${link.relation} link leaves the compartment`);
    }

    // With a parameter, and through search() with a compartment.
    const systolic = await client.search({
      resourceType: 'Observation',
      compartment: { resourceType: 'Patient', id: made.patient.id },
      searchParams: { code: `${LOINC}|8480-6` },
      options: opts(),
    });
    assert.deepEqual(matches([systolic]).sort(), made.observations.slice(0, 2).map(ref).sort());

    // The same by POST .../_search.
    const posted = await client.compartmentSearch({
      resourceType: 'Observation',
      compartment: { resourceType: 'Patient', id: made.patient.id },
      searchParams: { code: `${LOINC}|8462-4` },
      options: { ...opts(), postSearch: true },
    });
    assert.deepEqual(matches([posted]), [ref(made.observations[2])]);

    const conditions = await client.compartmentSearch({ resourceType: 'Condition', compartment: { resourceType: 'Patient', id: made.patient.id }, options: opts() });
    assert.deepEqual(matches([conditions]), [ref(made.condition)]);
    const others = await client.compartmentSearch({ resourceType: 'Observation', compartment: { resourceType: 'Patient', id: made.other.id }, options: opts() });
    assert.deepEqual(matches([others]), [ref(made.otherObservation)]);

    // A type outside the compartment is refused.
    await expectStatus(400, () => client.compartmentSearch({ resourceType: 'Organization', compartment: { resourceType: 'Patient', id: made.patient.id }, options: opts() }), 'Patient/{id}/Organization');
  });

  test('Patient/{id}/$everything, every page through nextPage', async () => {
    needMade();
    const want = [made.patient, ...made.observations, made.condition, made.encounter, made.task].map(ref).sort();
    const first = await client.operation({ name: '$everything', resourceType: 'Patient', id: made.patient.id, method: 'GET', input: { _count: PAGE }, options: opts() });
    assert.equal(first.resourceType, 'Bundle');
    assert.equal(first.type, 'searchset');
    const pages = await allPages(first);
    const got = matches(pages);
    assert.equal(pages.length, Math.ceil(want.length / PAGE), `pages of ${PAGE}`);
    assert.equal(new Set(got).size, got.length, 'a resource was served twice');
    assert.deepEqual([...got].sort(), want, "the patient and its whole record, nothing of the other patient's");
    assert.equal(got[0], ref(made.patient), 'the patient comes first');

    // _type keeps those types; POST with a Parameters body says the same.
    const obs = await client.operation({ name: '$everything', resourceType: 'Patient', id: made.patient.id, method: 'GET', input: { _type: 'Observation,Condition' }, options: opts() });
    assert.deepEqual(matches(await allPages(obs)).sort(), [...made.observations, made.condition].map(ref).sort());
    const posted = await client.operation({
      name: 'everything',
      resourceType: 'Patient',
      id: made.patient.id,
      input: { resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Encounter' }] },
      options: opts(),
    });
    assert.deepEqual(matches(await allPages(posted)), [ref(made.encounter)]);

    await expectStatus(404, () => client.operation({ name: '$everything', resourceType: 'Patient', id: `missing-${run}`, method: 'GET', options: opts() }), '$everything of a patient that does not exist');
  });

  test('$validate at type level: valid, invalid, and mode=create', async () => {
    needMade();
    const good = { resourceType: 'Patient', name: [{ family: 'Valid' }], gender: 'male' };
    const ok = await client.operation({ name: '$validate', resourceType: 'Patient', input: good, options: opts() });
    assert.equal(statusOf(ok), 200);
    assert.deepEqual(issues(ok, 'error'), [], JSON.stringify(ok));
    assert.ok(issues(ok, 'information').length > 0, 'a valid resource gets an information issue');

    const bad = await client.operation({ name: 'validate', resourceType: 'Patient', input: { ...good, gender: 'bogus', birthDate: '1970-13-01' }, options: opts() });
    assert.equal(statusOf(bad), 200, 'an invalid resource is still a 200');
    const where = issues(bad, 'error').flatMap((i) => i.expression ?? []).sort();
    assert.deepEqual(where, ['Patient.birthDate', 'Patient.gender']);

    const params = await client.operation({
      name: '$validate',
      resourceType: 'Observation',
      input: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { resourceType: 'Observation', code: { text: 'x' } } }, { name: 'mode', valueCode: 'create' }] },
      options: opts(),
    });
    assert.equal(statusOf(params), 200);
    assert.deepEqual(issues(params, 'error').flatMap((i) => i.expression ?? []), ['Observation.status'], 'Observation.status is required');

    // Nothing was stored.
    const found = await client.search({ resourceType: 'Patient', searchParams: { family: 'Valid', _tag: `${tag.system}|${tag.code}` }, options: opts() });
    assert.deepEqual(matches([found]), []);
  });

  test('$validate at instance level: update and delete rehearsed, nothing changed', async () => {
    needMade();
    const current = await client.read({ resourceType: 'Patient', id: made.patient.id, options: opts() });
    const changed = { ...current, gender: 'other' };
    const update = await client.operation({
      name: '$validate',
      resourceType: 'Patient',
      id: made.patient.id,
      input: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: changed }, { name: 'mode', valueCode: 'update' }] },
      options: opts(),
    });
    assert.equal(statusOf(update), 200);
    assert.deepEqual(issues(update, 'error'), [], JSON.stringify(update));

    const invalid = await client.operation({
      name: '$validate',
      resourceType: 'Patient',
      id: made.patient.id,
      input: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { ...changed, birthDate: 'yesterday' } }, { name: 'mode', valueCode: 'update' }] },
      options: opts(),
    });
    assert.deepEqual(issues(invalid, 'error').flatMap((i) => i.expression ?? []), ['Patient.birthDate']);

    const del = await client.operation({
      name: '$validate',
      resourceType: 'Observation',
      id: made.observations[0].id,
      input: { resourceType: 'Parameters', parameter: [{ name: 'mode', valueCode: 'delete' }] },
      options: opts(),
    });
    assert.equal(statusOf(del), 200);
    assert.deepEqual(issues(del, 'error'), [], JSON.stringify(del));

    const after = await client.read({ resourceType: 'Patient', id: made.patient.id, options: opts() });
    assert.equal(after.meta.versionId, current.meta.versionId, 'the rehearsed update changed the Patient');
    assert.equal(after.gender, 'female');
    const still = await client.read({ resourceType: 'Observation', id: made.observations[0].id, options: opts() });
    assert.equal(still.id, made.observations[0].id, 'the rehearsed delete removed the Observation');

    // A delete of what does not exist succeeds (R4 delete is idempotent:
    // the gateway answers 204), so the rehearsal says it could be done.
    const missing = await client.operation({ name: '$validate', resourceType: 'Patient', id: `missing-${run}`, input: { resourceType: 'Parameters', parameter: [{ name: 'mode', valueCode: 'delete' }] }, options: opts() });
    assert.deepEqual(issues(missing, 'error'), []);
    // An update whose body names another id would be a 400: an error issue
    // of the 200.
    const otherId = await client.operation({
      name: '$validate',
      resourceType: 'Patient',
      id: made.patient.id,
      input: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { ...changed, id: made.other.id } }, { name: 'mode', valueCode: 'update' }] },
      options: opts(),
    });
    assert.equal(statusOf(otherId), 200);
    assert.deepEqual(issues(otherId, 'error').flatMap((i) => i.expression ?? []), ['Patient.id']);
  });

  test('system search with _type, every page through nextPage', async () => {
    needMade();
    const searchParams = { _type: 'Patient,Observation', _tag: `${tag.system}|${tag.code}`, _count: PAGE };
    const first = await client.systemSearch({ searchParams, options: opts() });
    assert.equal(first.type, 'searchset');
    const pages = await allPages(first);
    const got = matches(pages);
    const want = [made.patient, made.other, ...made.observations, made.otherObservation].map(ref).sort();
    assert.equal(new Set(got).size, got.length, 'a resource was served twice');
    assert.deepEqual([...got].sort(), want, 'the run’s Patients and Observations, no other type');
    assert.equal(pages.length, Math.ceil(want.length / PAGE));

    // Through search() without a type, and by POST _search.
    const viaSearch = await client.search({ searchParams: { _type: 'Condition,Encounter,Task', _tag: `${tag.system}|${tag.code}` }, options: opts() });
    assert.deepEqual(matches(await allPages(viaSearch)).sort(), [made.condition, made.encounter, made.task].map(ref).sort());
    const posted = await client.systemSearch({ searchParams: { _type: 'Observation', _tag: `${tag.system}|${tag.code}`, _id: made.otherObservation.id }, options: { ...opts(), postSearch: true } });
    assert.deepEqual(matches([posted]), [ref(made.otherObservation)]);

    // A parameter one listed type lacks is refused, not ignored.
    await expectStatus(400, () => client.systemSearch({ searchParams: { _type: 'Patient,Observation', family: 'Compartment' }, options: opts() }), 'family on Observation');
  });
});
