/**
 * Consumers of a synced replica, by id and by linked OIDC subject, patched in place one consumer at a time.
 * A subject claimed by a consumer moves to it: subjects are unique in the control plane, so whoever held it
 * before has an older record that its own change will correct.
 */
import { subjectKey } from './compile.js';
import type { ConsumerSpec } from './schema.js';

export class ConsumerIndex {
  readonly #byId = new Map<string, ConsumerSpec>();
  readonly #bySubject = new Map<string, ConsumerSpec>();

  /** The by-id map itself, for the state's `consumers`: reads see every later patch. */
  get byId(): ReadonlyMap<string, ConsumerSpec> {
    return this.#byId;
  }

  get size(): number {
    return this.#byId.size;
  }

  bySubject(issuer: string, subject: string): ConsumerSpec | undefined {
    return this.#bySubject.get(subjectKey(issuer, subject));
  }

  upsert(consumer: ConsumerSpec): void {
    this.#unlink(this.#byId.get(consumer.id));
    this.#byId.set(consumer.id, consumer);
    for (const s of consumer.subjects) this.#bySubject.set(subjectKey(s.issuer, s.sub), consumer);
  }

  delete(id: string): boolean {
    const existing = this.#byId.get(id);
    this.#unlink(existing);
    return this.#byId.delete(id);
  }

  values(): IterableIterator<ConsumerSpec> {
    return this.#byId.values();
  }

  #unlink(consumer: ConsumerSpec | undefined): void {
    if (consumer === undefined) return;
    for (const s of consumer.subjects) {
      const k = subjectKey(s.issuer, s.sub);
      if (this.#bySubject.get(k) === consumer) this.#bySubject.delete(k);
    }
  }
}
