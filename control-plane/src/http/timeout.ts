/**
 * Answers 503 `timeout` when a request runs too long, so clients are not left hanging. The work itself
 * is bounded separately (statement_timeout on Postgres); whatever finishes later is not sent.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ProblemError } from '../problem-error.js';
import { sendProblem } from './problem-response.js';
import { requestState } from './request-state.js';

export function requestTimeout(ms: number): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const timer = setTimeout(() => {
      sendProblem(res, new ProblemError('timeout', `the request took longer than ${ms} ms`), requestState(req).id);
    }, ms);
    timer.unref();
    res.on('close', () => clearTimeout(timer));
    next();
  };
}
