// Validation of Gateway listeners[].tls.options under Portico's own domain (`portico.dev/`). The
// data plane reads the same keys (src/dataplane/listeners/tls-options.ts); this side makes sure a
// listener whose options it would ignore or could not honour is reported instead of served with
// weaker settings than its operator asked for. Keys of other domains belong to other
// implementations and are left alone.

const MIN_VERSION = 'portico.dev/tls-min-version';
const MAX_VERSION = 'portico.dev/tls-max-version';
const ALPN = 'portico.dev/alpn';
const KNOWN = [MIN_VERSION, MAX_VERSION, ALPN];

/** Accepted spellings of the TLS versions, to their order. */
const VERSIONS: Record<string, number> = { 'TLSv1.2': 2, '1.2': 2, 'TLSv1.3': 3, '1.3': 3 };
const VERSION_HINT = 'use TLSv1.2 or TLSv1.3 (or 1.2, 1.3)';

/** An ALPN protocol id as Portico accepts it: 1 to 255 printable ASCII characters, no comma or space. */
const ALPN_ID = /^[\x21-\x2b\x2d-\x7e]{1,255}$/;

/**
 * What is wrong with a listener's tls.options, as a message for its UnsupportedValue condition,
 * or undefined when Portico can honour them all.
 */
export function tlsOptionsProblem(raw: Record<string, unknown>, mode: 'Terminate' | 'Passthrough'): string | undefined {
  const options: Record<string, string> = {};
  for (const key of Object.keys(raw).sort()) {
    if (!key.startsWith('portico.dev/')) continue;
    if (!KNOWN.includes(key)) return `tls.options key ${JSON.stringify(key)} is not a Portico option; Portico understands ${KNOWN.join(', ')}.`;
    const value = raw[key];
    // An unquoted 1.3 in YAML is a number: say so rather than drop the option.
    if (typeof value !== 'string') return `tls.options ${key} must be a string (quote it: "${String(value)}").`;
    options[key] = value;
  }
  const versions: Record<string, number | undefined> = {};
  for (const key of [MIN_VERSION, MAX_VERSION]) {
    const value = options[key];
    if (value === undefined) continue;
    versions[key] = VERSIONS[value.trim()];
    if (versions[key] === undefined) return `tls.options ${key} ${JSON.stringify(value)} is not supported; ${VERSION_HINT}.`;
  }
  const min = versions[MIN_VERSION];
  const max = versions[MAX_VERSION];
  if (min !== undefined && max !== undefined && max < min) {
    return `tls.options ${MAX_VERSION} ${JSON.stringify(options[MAX_VERSION])} is below ${MIN_VERSION} ${JSON.stringify(options[MIN_VERSION])}: no client could connect.`;
  }
  const alpn = options[ALPN];
  if (alpn !== undefined) {
    const ids = alpn.split(',').map((s) => s.trim());
    if (ids.some((id) => !ALPN_ID.test(id))) {
      return `tls.options ${ALPN} ${JSON.stringify(alpn)} is not supported; use a comma-separated list of ALPN protocol ids, e.g. "h2,http/1.1".`;
    }
  }
  if (mode === 'Passthrough') {
    const used = KNOWN.filter((k) => options[k] !== undefined);
    if (used.length > 0) return `tls.options ${used.join(', ')} cannot apply to a Passthrough listener: Portico does not terminate its TLS.`;
  }
  return undefined;
}
