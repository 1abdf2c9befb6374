/**
 * A value now, or a promise of it. The decision path passes these along so that a request whose every step
 * can answer at once (an API key, a cached token, an in-memory bucket) is decided without a single promise
 * or microtask; only a step that really waits (a JWKS fetch, Redis) makes the rest of the path asynchronous.
 * Profiles of the forwardAuth endpoint put the promise chain of an all-`async` pipeline at several
 * microseconds per request, a large share of the whole decision.
 */
export type MaybePromise<T> = T | Promise<T>;

/** Native promises only: every asynchronous step on the decision path is an `async` function or a node API. */
export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise;
}

/** `next(value)` now when the value is here, after it settles otherwise. */
export function andThen<T, U>(value: MaybePromise<T>, next: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

/**
 * What an adapter does with the engine: `done` with the value of `run()`, at once when it is here or once it
 * settles; `failed` with whatever `run` throws or rejects with. Never throws or rejects itself.
 */
export function settle<T>(run: () => MaybePromise<T>, done: (value: T) => void, failed: (error: unknown) => void): void {
  let value: MaybePromise<T>;
  try {
    value = run();
  } catch (error) {
    failed(error);
    return;
  }
  if (value instanceof Promise) value.then(done, failed);
  else done(value);
}
