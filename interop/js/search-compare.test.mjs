// Search answers of the gateway against an independent implementation of
// FHIR search semantics, query for query, on the official R4 examples.
//
//   SIGNPOST_FHIR_BASE=http://127.0.0.1:8080/fhir node --test search-compare.test.mjs
//
// The reference is @medplum/core's in-memory matcher (lib/reference.mjs),
// run over the same example files that are PUT into the gateway at their
// own ids. queries.json lists the queries:
//   - compare: each must give the same ids as the reference (the same
//     order for a query with _sort, with the id as the last tiebreak);
//   - knownDifferences: queries on which the reference departs from R4
//     (each says why, with the R4 answer worked out by hand from the
//     spec); they are run against the gateway and checked against that
//     R4 answer, and the reference's answer is shown, never compared;
//   - gatewayDeviations: queries on which the gateway departs from R4,
//     run as todo tests against the R4 answer: reported, not failing,
//     until the gateway is fixed.
// "{base}" in a query is replaced by the gateway's FHIR base.
//
// The gateway must hold nothing of the compared types but the examples
// (start it on an empty store): a search answer over other data cannot be
// judged against the examples.
//
// SIGNPOST_FHIR_EXAMPLES is the folder of the official examples (default:
// testdata/fhir/r4-examples-4.0.1 of the repository).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { fhirBase, putAll, readExamples, request, searchAll } from './lib/gateway.mjs';
import { loadDefinitions, referenceAnswer, splitQuery } from './lib/reference.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const spec = JSON.parse(readFileSync(join(here, 'queries.json'), 'utf8'));
const examplesDir = resolve(process.env.SIGNPOST_FHIR_EXAMPLES || join(here, '..', '..', 'testdata', 'fhir', 'r4-examples-4.0.1'));
// Small pages, so that every answer of more than a few resources is read
// through next links too.
const PAGE_SIZE = Number(process.env.SIGNPOST_INTEROP_PAGE_SIZE || 7);

const tally = { agree: 0, disagree: [], knownChecked: 0, knownWrong: [], deviations: [], deviationsFixed: [] };
let base;
let examples = [];

function describeDiff(want, got, ordered) {
  const lines = [`  want (${want.length}): ${JSON.stringify(want)}`, `  got  (${got.length}): ${JSON.stringify(got)}`];
  const missing = want.filter((id) => !got.includes(id));
  const extra = got.filter((id) => !want.includes(id));
  const dup = got.filter((id, i) => got.indexOf(id) !== i);
  if (missing.length) lines.push(`  missing from the gateway: ${missing.join(', ')}`);
  if (extra.length) lines.push(`  not expected: ${extra.join(', ')}`);
  if (dup.length) lines.push(`  served more than once: ${dup.join(', ')}`);
  if (ordered && !missing.length && !extra.length && !dup.length) lines.push('  same resources, different order');
  return lines.join('\n');
}

function isSorted(query) {
  return splitQuery(query).params.has('_sort');
}

function asServed(ids, query) {
  return isSorted(query) ? ids : [...ids].sort();
}

/** Medplum's answer for display: its ids, or the error it raised. */
function medplumShown(query) {
  try {
    return JSON.stringify(referenceAnswer(query, examples));
  } catch (err) {
    return `an error (${err.message})`;
  }
}

/** The query with {base} replaced by the gateway's FHIR base. */
function expand(query) {
  return query.replaceAll('{base}', base);
}

/** The gateway's answer by GET (paged) and by POST _search, which must agree. */
async function gatewayAnswer(query) {
  const get = await searchAll(base, query, { pageSize: PAGE_SIZE });
  const post = await searchAll(base, query, { pageSize: PAGE_SIZE, method: 'POST' });
  const problems = [];
  if (get.outcomes.length) problems.push(`the gateway did not apply every parameter: ${get.outcomes.join('; ')}`);
  if (JSON.stringify(get.ids) !== JSON.stringify(post.ids)) {
    problems.push(`POST ${query.split('?')[0]}/_search answered differently from GET:\n${describeDiff(get.ids, post.ids, true)}`);
  }
  if (typeof get.total === 'number' && get.total !== get.ids.length) {
    problems.push(`Bundle.total is ${get.total} but ${get.ids.length} matches were served over ${get.pages} page(s)`);
  }
  return { ids: asServed(get.ids, query), problems };
}

before(async () => {
  base = fhirBase();
  loadDefinitions();
  examples = readExamples(examplesDir, spec.types);
  assert.ok(examples.length > 0, `no examples of ${spec.types.join(', ')} in ${examplesDir}`);
  const health = await request(`${base}/metadata`);
  assert.equal(health.status, 200, `GET ${base}/metadata: ${health.status}`);
  await putAll(base, examples);
  // Nothing but the examples: counts per type must be the examples'.
  for (const type of spec.types) {
    const want = examples.filter((r) => r.resourceType === type).length;
    const res = await request(`${base}/${type}?_summary=count`);
    assert.equal(res.status, 200, `${type}?_summary=count: ${res.status}`);
    assert.equal(
      res.body.total,
      want,
      `the gateway holds ${res.body.total} ${type} resources but ${want} examples were loaded: run the comparison on a gateway with an empty store`,
    );
  }
}, { timeout: 120_000 });

after(() => {
  const lines = [
    `search comparison against @medplum/core on ${examples.length} official examples: ` +
      `${tally.agree} of ${tally.agree + tally.disagree.length} queries agree` +
      `; ${tally.knownChecked} known differences (Medplum departs from R4) checked against the R4 answer, ${tally.knownWrong.length} of them wrong` +
      `; ${tally.deviations.length} open gateway deviations from R4 (todo)`,
  ];
  for (const d of tally.disagree) lines.push(`  DISAGREE ${d}`);
  for (const d of tally.knownWrong) lines.push(`  R4 ANSWER DIFFERS ${d}`);
  for (const d of tally.deviations) lines.push(`  TODO gateway deviation: ${d}`);
  for (const d of tally.deviationsFixed) lines.push(`  FIXED (move it out of gatewayDeviations): ${d}`);
  console.log(lines.join('\n'));
});

describe('same answers as @medplum/core', () => {
  for (const query of spec.compare) {
    test(query, { timeout: 60_000 }, async () => {
      let want, got;
      try {
        want = referenceAnswer(expand(query), examples);
        got = await gatewayAnswer(expand(query));
      } catch (err) {
        tally.disagree.push(`${query} (${err.message.split('\n')[0]})`);
        throw err;
      }
      const same = JSON.stringify(want) === JSON.stringify(got.ids);
      if (!same || got.problems.length) {
        tally.disagree.push(query);
        assert.fail(
          [`${query}${isSorted(query) ? ' (ordered)' : ''}`, same ? '  same ids' : describeDiff(want, got.ids, isSorted(query)), ...got.problems].join('\n'),
        );
      }
      tally.agree++;
    });
  }
});

describe('known differences: the R4 answer, Medplum shown only', () => {
  for (const k of spec.knownDifferences.queries) {
    test(k.query, { timeout: 60_000 }, async (t) => {
      const medplum = medplumShown(expand(k.query));
      const want = asServed(k.r4Expected, k.query);
      t.diagnostic(`Medplum answers ${medplum}: ${k.reason}`);
      if (medplum === JSON.stringify(want)) {
        t.diagnostic('Medplum now gives the R4 answer: move this query to "compare"');
      }
      tally.knownChecked++;
      let got;
      try {
        got = await gatewayAnswer(expand(k.query));
      } catch (err) {
        tally.knownWrong.push(`${k.query} (${err.message.split('\n')[0]})`);
        throw err;
      }
      const same = JSON.stringify(want) === JSON.stringify(got.ids);
      if (!same || got.problems.length) {
        tally.knownWrong.push(k.query);
        assert.fail([`${k.query} (R4 answer from queries.json)`, same ? '  same ids' : describeDiff(want, got.ids, isSorted(k.query)), ...got.problems].join('\n'));
      }
    });
  }
});

describe('gateway deviations from R4 (todo until fixed)', () => {
  for (const d of spec.gatewayDeviations.queries) {
    test(d.query, { timeout: 60_000, todo: d.issue }, async (t) => {
      const medplum = medplumShown(expand(d.query));
      const want = asServed(d.r4Expected, d.query);
      let got;
      try {
        got = await gatewayAnswer(expand(d.query));
      } catch (err) {
        tally.deviations.push(`${d.query} (${err.message.split('\n')[0]})`);
        throw err;
      }
      t.diagnostic(`Medplum answers ${medplum}`);
      if (medplum === JSON.stringify(want)) t.diagnostic('Medplum gives the R4 answer here');
      const same = JSON.stringify(want) === JSON.stringify(got.ids);
      if (!same || got.problems.length) {
        tally.deviations.push(d.query);
        assert.fail([`${d.query} (R4 answer from queries.json)`, same ? '  same ids' : describeDiff(want, got.ids, isSorted(d.query)), ...got.problems].join('\n'));
      }
      tally.deviationsFixed.push(d.query);
    });
  }
});
