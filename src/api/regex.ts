// The one regular-expression engine of Portico: RE2 semantics (linear time, no backtracking) via
// re2js, a pure-JS port of RE2. translate() validates route authors' patterns with it and the
// data plane runs them with it, so a pattern status calls Accepted is exactly a pattern the data
// plane can match: `(?i)/abc` is valid RE2 (and not JavaScript), `/a\Z` and `/\cA` are valid
// JavaScript (and not RE2).
import { RE2JS } from 're2js';

/** Longer patterns are refused: route authors are less trusted than operators. */
export const MAX_REGEX_LENGTH = 1024;

/** Compiles with RE2 syntax; throws on patterns RE2 does not accept (backreferences, lookaround...). */
export function compileRE2(pattern: string): RE2JS {
  return RE2JS.compile(pattern);
}

/** Why a route author's pattern is refused, or undefined when RE2 accepts it. */
export function regexError(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `longer than ${MAX_REGEX_LENGTH} characters`;
  try {
    compileRE2(pattern);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
