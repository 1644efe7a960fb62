// Path rewriting shared by URLRewrite and RequestRedirect (ReplaceFullPath / ReplacePrefixMatch).

export interface PathModifier {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  value: string;
}

/**
 * `prefix` is the matched PathPrefix without trailing slash ('' for "/"). ReplacePrefixMatch
 * replaces whole segments: prefix "/foo", value "/xyz": "/foo/bar" → "/xyz/bar", "/foo" → "/xyz";
 * value "/": "/foo/bar" → "/bar", "/foo" → "/".
 */
export function rewritePath(mod: PathModifier, prefix: string | undefined, path: string): string {
  if (mod.type === 'ReplaceFullPath') return mod.value;
  if (prefix === undefined) return path;
  const rest = path.slice(prefix.length);
  const base = mod.value.endsWith('/') ? mod.value.slice(0, -1) : mod.value;
  if (rest === '' || rest === '/') return base === '' ? '/' : rest === '/' ? `${base}/` : base;
  return base + rest;
}
