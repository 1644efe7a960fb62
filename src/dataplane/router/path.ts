// Request path normalization before matching: "." and ".." segments are resolved (RFC 3986
// §5.2.4), with percent-encoded dots decoded first (they are unreserved, §6.2.2.2), and runs of
// slashes merged. Otherwise "/public/../admin" or "//admin" would miss an "/admin" route (and its
// filters) yet reach "/admin" on a backend that resolves them. The normalized path is also what
// the backend receives, so both see the same request.

/** Fast test: most paths have no dot segment and no encoded dot. */
export function needsNormalization(path: string): boolean {
  return path.includes('/.') || path.includes('//') || path.includes('%2e') || path.includes('%2E');
}

export function normalizePath(raw: string): string {
  const path = raw.replace(/%2e/gi, '.');
  const out: string[] = [];
  const segments = path.split('/');
  // segments[0] is '' for an absolute path
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i];
    const last = i === segments.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else if (s !== '' || last) {
      out.push(s);
    }
  }
  return '/' + out.join('/');
}
