// RequestHeaderModifier / ResponseHeaderModifier: names lower-cased once at compile time; applied
// in place to the outgoing header object (request to the backend, or response to the client).
import type { IRHeaderModifier } from '../../ir/types.ts';

export type HeaderBag = Record<string, string | string[] | undefined>;

export interface HeaderOps {
  set: [string, string][];
  add: [string, string][];
  remove: string[];
}

export function compileHeaderOps(f: IRHeaderModifier): HeaderOps {
  return {
    set: f.set.map((h) => [h.name.toLowerCase(), h.value]),
    add: f.add.map((h) => [h.name.toLowerCase(), h.value]),
    remove: f.remove.map((n) => n.toLowerCase()),
  };
}

export function applyHeaderOps(ops: HeaderOps, headers: HeaderBag): void {
  for (let i = 0; i < ops.set.length; i++) headers[ops.set[i][0]] = ops.set[i][1];
  for (let i = 0; i < ops.add.length; i++) {
    const [name, value] = ops.add[i];
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (typeof prev === 'string') headers[name] = [prev, value];
    else headers[name] = [...prev, value];
  }
  for (let i = 0; i < ops.remove.length; i++) delete headers[ops.remove[i]];
}
