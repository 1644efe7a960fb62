// Object metadata, checked as the API server checks it for custom resources (apimachinery's
// ValidateObjectMeta): a name (or generateName) that is a DNS subdomain, a namespace that is a
// DNS label (ignored on cluster-scoped kinds), qualified label and annotation keys, label values,
// at most 256 KiB of annotations.

import type { FieldError } from './schema.ts';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const ANNOTATIONS_MAX_BYTES = 256 * 1024;

/** What is wrong with a label or annotation key (`[prefix/]name`), or undefined. */
export function qualifiedKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) return 'the prefix before "/" must be a lowercase DNS subdomain';
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return 'the name part must be 1-63 characters, start and end with a letter or digit, with only letters, digits, "-", "_" and "." between';
  }
  return undefined;
}

/** What is wrong with a label value, or undefined. */
export function labelValueProblem(value: string): string | undefined {
  return value.length > 63 || !LABEL_VALUE.test(value) ? 'at most 63 characters, empty or starting and ending with a letter or digit' : undefined;
}

function checkStringMap(m: unknown, path: string, errs: FieldError[], isLabels: boolean): void {
  if (m === undefined || m === null) return;
  if (typeof m !== 'object' || Array.isArray(m)) {
    errs.push({ path, message: 'must be a map of strings' });
    return;
  }
  for (const [k, v] of Object.entries(m)) {
    const p = `${path}[${JSON.stringify(k)}]`;
    const problem = qualifiedKeyProblem(isLabels ? k : k.toLowerCase());
    if (problem) errs.push({ path: p, message: `invalid key ${JSON.stringify(k)}: ${problem}` });
    if (typeof v !== 'string') errs.push({ path: p, message: 'must be a string' });
    else if (isLabels && labelValueProblem(v)) errs.push({ path: p, message: `invalid label value ${JSON.stringify(v)}: ${labelValueProblem(v)}` });
  }
}

export function checkMetadata(meta: unknown, namespaced: boolean, errs: FieldError[]): void {
  if (meta === undefined || meta === null || typeof meta !== 'object' || Array.isArray(meta)) {
    errs.push({ path: 'metadata.name', message: 'required field is missing' });
    return;
  }
  const m = meta as Record<string, unknown>;
  const name = m.name ?? m.generateName;
  if (name === undefined || name === null || name === '') {
    errs.push({ path: 'metadata.name', message: 'required field is missing' });
  } else if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(m.name === undefined ? `${name}a` : name)) {
    errs.push({ path: 'metadata.name', message: `invalid name ${JSON.stringify(name)}: must be a lowercase DNS subdomain (RFC 1123): a-z, 0-9, "-" and "."` });
  }
  // A namespace on a cluster-scoped object is cleared by the API server, not refused.
  const ns = m.namespace;
  if (namespaced && ns !== undefined && ns !== null && ns !== '') {
    if (typeof ns !== 'string' || ns.length > 63 || !DNS_LABEL.test(ns)) {
      errs.push({ path: 'metadata.namespace', message: `invalid namespace ${JSON.stringify(ns)}: must be a lowercase DNS label (RFC 1123)` });
    }
  }
  checkStringMap(m.labels, 'metadata.labels', errs, true);
  checkStringMap(m.annotations, 'metadata.annotations', errs, false);
  if (m.annotations && typeof m.annotations === 'object') {
    let bytes = 0;
    for (const [k, v] of Object.entries(m.annotations)) bytes += Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : 0);
    if (bytes > ANNOTATIONS_MAX_BYTES) errs.push({ path: 'metadata.annotations', message: `annotations may not be more than ${ANNOTATIONS_MAX_BYTES} bytes in total, have ${bytes}` });
  }
}
