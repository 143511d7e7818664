import { readFileSync } from 'node:fs';
import { putAll, readExamples, searchAll } from './lib/gateway.mjs';
import { referenceAnswer } from './lib/reference.mjs';
const types = ['Task','ServiceRequest','HealthcareService','Patient','Practitioner','PractitionerRole','Organization','Location','Observation','Endpoint'];
const ex = readExamples('/work/shared/fhir/r4-examples-4.0.1', types);
const base = 'http://127.0.0.1:18080/fhir';
if (process.argv[2] === 'load') { await putAll(base, ex); console.log('loaded', ex.length); process.exit(0); }
const queries = readFileSync(process.argv[2], 'utf8').split('\n').map(s => s.trim()).filter(s => s && !s.startsWith('#'));
for (const q of queries) {
  let m, g;
  try { m = referenceAnswer(q, ex); } catch (e) { m = 'ERR ' + e.message; }
  try { const r = await searchAll(base, q, { pageSize: 7 }); g = q.includes('_sort') ? r.ids : [...r.ids].sort(); if (r.outcomes.length) g = [...g, 'OUTCOME:' + r.outcomes.join(';')]; } catch (e) { g = 'ERR ' + e.message; }
  const same = JSON.stringify(m) === JSON.stringify(g);
  console.log(`${same ? 'OK  ' : 'DIFF'} ${q}  n=${Array.isArray(m) ? m.length : '-'}${same ? '' : `\n   medplum: ${JSON.stringify(m)}\n   gateway: ${JSON.stringify(g)}`}`);
}
