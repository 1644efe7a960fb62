// Admission in file mode: what the API server does between a manifest and the stored object.
// Every object is validated as the API server would on create (schema and CEL rules of the
// CRDs, api/validation). An invalid object is not admitted; when an earlier valid version of it
// was admitted, that version stays (the API server keeps the stored object when an update is
// refused), so the last good configuration keeps serving. Refusals are reported as
// `file:line: Kind ns/name rejected: path: message` and in Snapshot.rejected.
//
// Validation is done once per object version: an unchanged object (same instance, or same
// content and metadata under the same key) reuses its verdict, so a change to one route among
// 40,000 validates one route.
import type { KubeObject } from '../../api/meta.ts';
import { isValidatedKind, validateObject } from '../../api/validation/index.ts';
import type { ProviderDiagnostic, RejectedObject } from '../snapshot.ts';
import { contentHash } from './hash.ts';

type FieldErrors = { path: string; message: string }[];

export interface AdmissionOutput {
  objects: KubeObject[];
  rejected: RejectedObject[];
  diagnostics: ProviderDiagnostic[];
}

export class Admission {
  /** Verdict by object instance (the provider reuses instances of unchanged objects). */
  private readonly byInstance = new WeakMap<KubeObject, FieldErrors>();
  /** Verdict of the latest version seen under each key (reused by an equal version). */
  private readonly byKey = new Map<string, { obj: KubeObject; errors: FieldErrors }>();
  /** The latest valid version admitted under each key. */
  private readonly lastValid = new Map<string, KubeObject>();
  private present = new Set<string>();
  private validated = 0;

  /** How many object versions were validated so far (unchanged objects are not validated again). */
  get validations(): number {
    return this.validated;
  }

  /** Starts one read of every manifest. */
  begin(): void {
    this.present = new Set();
  }

  /** Admits one object read at `where`, or refuses it. `key` is "Kind/ns/name" (or "Kind/name"). */
  admit(key: string, obj: KubeObject, where: string, out: AdmissionOutput): void {
    this.present.add(key);
    const errors = this.verdict(key, obj);
    if (errors.length === 0) {
      this.lastValid.set(key, obj);
      out.objects.push(obj);
      return;
    }
    const name = obj.metadata.namespace !== undefined && obj.kind !== 'GatewayClass' && obj.kind !== 'Namespace'
      ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
    for (const e of errors) {
      out.diagnostics.push({ where, message: `${obj.kind} ${name} rejected: ${e.path ? `${e.path}: ` : ''}${e.message}` });
    }
    const serving = this.lastValid.get(key);
    if (serving) {
      out.objects.push(serving);
      out.rejected.push({ object: obj, errors, servingGeneration: serving.metadata.generation });
    } else {
      out.rejected.push({ object: obj, errors });
    }
  }

  /** Ends the read: objects no longer in any manifest are forgotten (they come back as new ones). */
  end(): void {
    for (const key of this.byKey.keys()) if (!this.present.has(key)) this.byKey.delete(key);
    for (const key of this.lastValid.keys()) if (!this.present.has(key)) this.lastValid.delete(key);
  }

  /** Forgets an object no longer in any manifest, between reads that admit only some objects. */
  forget(key: string): void {
    this.byKey.delete(key);
    this.lastValid.delete(key);
  }

  private verdict(key: string, obj: KubeObject): FieldErrors {
    const known = this.byInstance.get(obj);
    if (known) return known;
    if (!isValidatedKind(obj.apiVersion, obj.kind)) return NONE;
    const previous = this.byKey.get(key);
    let errors: FieldErrors;
    if (previous && fingerprint(previous.obj) === fingerprint(obj)) {
      errors = previous.errors;
    } else {
      this.validated++;
      try {
        errors = validateObject(obj);
      } catch (err) {
        // Defensive: a validator bug must not let an unchecked object through, nor crash.
        errors = [{ path: '', message: `validation failed: ${err instanceof Error ? err.message : String(err)}` }];
      }
      this.byKey.set(key, { obj, errors });
    }
    this.byInstance.set(obj, errors);
    return errors;
  }
}

const NONE: FieldErrors = [];

/** What validation reads of an object: its content, whether it has a status, its metadata. */
function fingerprint(obj: KubeObject): string {
  return `${contentHash(obj)}|${obj.status !== undefined}|${JSON.stringify(obj.metadata)}`;
}
