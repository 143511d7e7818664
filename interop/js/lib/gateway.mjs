// Plain HTTP helpers for the search comparison: load the examples and run
// searches, following the gateway's next links. Every request has a
// deadline, so a hung gateway fails the run instead of stalling it.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const REQUEST_TIMEOUT_MS = Number(process.env.SIGNPOST_INTEROP_REQUEST_TIMEOUT_MS || 20000);

/** The FHIR base from the environment, without a trailing slash. */
export function fhirBase() {
  const base = process.env.SIGNPOST_FHIR_BASE;
  if (!base) {
    throw new Error('SIGNPOST_FHIR_BASE is not set: give the FHIR base of a running gateway, e.g. http://127.0.0.1:8080/fhir');
  }
  return base.replace(/\/+$/, '');
}

/** A request to the gateway; resolves to {status, headers, body (parsed JSON or text)}. */
export async function request(url, { method = 'GET', headers = {}, body } = {}) {
  let res;
  try {
    res = await fetch(url, {
      method,
      headers: { accept: 'application/fhir+json', ...headers },
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new Error(`${method} ${url}: ${err.name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS} ms` : err.message}`);
  }
  const text = await res.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: kept as text for the error message
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

function short(body) {
  const s = typeof body === 'string' ? body : JSON.stringify(body);
  return s && s.length > 400 ? `${s.slice(0, 400)}…` : s;
}

/**
 * The official examples of the given types in dir: files named
 * Type-id.json whose resourceType is Type.
 */
export function readExamples(dir, types) {
  let names;
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new Error(`reading the official examples: ${err.message} (set SIGNPOST_FHIR_EXAMPLES to the r4-examples-4.0.1 folder)`);
  }
  const out = [];
  for (const name of names.sort()) {
    const type = name.split('-')[0];
    if (!types.includes(type) || !name.endsWith('.json')) continue;
    const resource = JSON.parse(readFileSync(join(dir, name), 'utf8'));
    if (resource.resourceType === type && resource.id) out.push(resource);
  }
  return out;
}

/** PUTs every resource at its own id, a few at a time. */
export async function putAll(base, resources, concurrency = 16) {
  const queue = [...resources];
  const failures = [];
  const worker = async () => {
    for (let r = queue.shift(); r; r = queue.shift()) {
      const url = `${base}/${r.resourceType}/${encodeURIComponent(r.id)}`;
      const res = await request(url, {
        method: 'PUT',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify(r),
      });
      if (res.status !== 200 && res.status !== 201) {
        failures.push(`PUT ${r.resourceType}/${r.id}: ${res.status} ${short(res.body)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failures.length) throw new Error(`loading the examples failed:\n${failures.join('\n')}`);
}

/**
 * Runs a search ("Type?a=b") and follows next links to the end. Returns the
 * ids of the matches in the order served, the outcome entries' diagnostics,
 * Bundle.total of the first page and the number of pages.
 */
export async function searchAll(base, query, { pageSize, method = 'GET', maxPages = 200 } = {}) {
  const q = query.indexOf('?');
  const type = q < 0 ? query : query.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : query.slice(q + 1));
  if (pageSize && !params.has('_count')) params.set('_count', String(pageSize));
  let res =
    method === 'POST'
      ? await request(`${base}/${type}/_search`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: params.toString(),
        })
      : await request(`${base}/${type}?${params}`);
  const ids = [];
  const outcomes = [];
  let total;
  let pages = 0;
  for (;;) {
    if (res.status !== 200 || res.body?.resourceType !== 'Bundle' || res.body.type !== 'searchset') {
      throw new Error(`${method} ${query} (page ${pages + 1}): ${res.status} ${short(res.body)}`);
    }
    pages++;
    if (pages === 1) total = res.body.total;
    for (const e of res.body.entry ?? []) {
      const mode = e.search?.mode ?? 'match';
      if (mode === 'match') {
        if (e.resource?.resourceType !== type) throw new Error(`${query}: a match of type ${e.resource?.resourceType}`);
        ids.push(e.resource.id);
      } else if (mode === 'outcome') {
        for (const i of e.resource?.issue ?? []) outcomes.push(i.diagnostics ?? i.code);
      }
    }
    const next = res.body.link?.find((l) => l.relation === 'next')?.url;
    if (!next) break;
    if (pages >= maxPages) throw new Error(`${query}: still a next link after ${maxPages} pages`);
    res = await request(next);
  }
  return { ids, outcomes, total, pages };
}
