/** Per-request facts the middleware chain shares: request id, start time, matched route. */
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

export interface RequestState {
  readonly id: string;
  readonly startedAt: bigint;
  /** Route template (`/v1/keys/{id}`) for metric labels; unset when nothing matched. */
  route?: string;
  actorId?: string;
}

const states = new WeakMap<Request, RequestState>();

/** A caller-supplied X-Request-Id is kept when it is short and plain, so traces line up across services. */
const INBOUND_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function requestState(req: Request): RequestState {
  let state = states.get(req);
  if (!state) {
    const inbound = req.get('x-request-id');
    state = { id: inbound !== undefined && INBOUND_ID.test(inbound) ? inbound : randomUUID(), startedAt: process.hrtime.bigint() };
    states.set(req, state);
  }
  return state;
}

export function assignRequestId(req: Request, res: Response, next: NextFunction): void {
  res.setHeader('x-request-id', requestState(req).id);
  next();
}
