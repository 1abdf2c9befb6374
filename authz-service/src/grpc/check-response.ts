/**
 * Decision → what goes back to Envoy. Three shapes, because Envoy treats them differently:
 * - allow: status OK with an OkHttpResponse (identity headers, credentials stripped, RateLimit headers);
 * - deny: a non-OK status with a DeniedHttpResponse whose HTTP status is set explicitly — Envoy answers 403
 *   for every denial otherwise, and maps no gRPC code to 401 or 429 by itself;
 * - could not decide (catalog `failure`): a gRPC error instead of a CheckResponse. A *successful* RPC with
 *   status UNAVAILABLE is a denial to Envoy; only an RPC error lets `failure_mode_allow` and
 *   `status_on_error` apply, as the operator configured them.
 */
import { type AllowDecision, type Decision, type DenyDecision, denialBody, type HeaderPair, type Principal, type RouteRef } from '../core/decision.js';
import { catalogEntry, GrpcCode, PROBLEM_CONTENT_TYPE } from '../core/errors.js';
import type { CheckResponseMessage, HeaderValueOptionMessage, StructMessage, StructValueMessage } from './ext-authz-messages.js';

export type CheckReply =
  | { readonly kind: 'response'; readonly response: CheckResponseMessage }
  | { readonly kind: 'error'; readonly code: GrpcCode; readonly details: string };

/**
 * Replace, never append: the proto default of `append_action` (APPEND_IF_EXISTS_OR_ADD) would let a
 * client-sent `X-Portcullis-Subject: admin` survive next to ours.
 */
function overwrite([key, value]: HeaderPair): HeaderValueOptionMessage {
  return { header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

const str = (stringValue: string): StructValueMessage => ({ stringValue });

/**
 * `dynamic_metadata`, emitted by Envoy under the namespace `envoy.filters.http.ext_authz`: the principal for
 * rate-limit descriptors (`metadata` actions) and access logs (`%DYNAMIC_METADATA(envoy.filters.http.ext_authz:consumer)%`).
 */
function metadata(id: string, route: RouteRef | undefined, principal: Principal | undefined, extra: Record<string, string>): StructMessage {
  const fields: Record<string, StructValueMessage> = { decision_id: str(id) };
  if (route !== undefined) {
    fields['service'] = str(route.service);
    fields['route'] = str(route.route);
  }
  if (principal !== undefined) {
    fields['subject'] = str(principal.subject);
    fields['consumer'] = str(principal.consumerId);
    fields['auth_method'] = str(principal.authMethod);
    if (principal.plan !== undefined) fields['plan'] = str(principal.plan);
    if (principal.keyId !== undefined) fields['key_id'] = str(principal.keyId);
  }
  for (const key in extra) fields[key] = str(extra[key]!);
  return { fields };
}

/** Lower-case (Envoy's header maps are) and without repeats. */
function headerNames(names: readonly string[]): string[] {
  return [...new Set(names.map((name) => name.toLowerCase()))];
}

/**
 * `headers_to_remove` is the core's list: the credential, and every identity header the decision does not
 * set, so that no client-sent copy (a forged `X-Portcullis-Consumer` on an anonymous call) survives.
 */
function allowReply(decision: AllowDecision): CheckReply {
  const remove = headerNames(decision.removeHeaders);
  const extra: Record<string, string> = decision.shadowDenial === undefined ? {} : { shadow_denial: decision.shadowDenial };
  return {
    kind: 'response',
    response: {
      status: { code: GrpcCode.OK },
      ok_response: {
        headers: decision.upstreamHeaders.map(overwrite),
        ...(remove.length > 0 ? { headers_to_remove: remove } : {}),
        ...(decision.responseHeaders.length > 0 ? { response_headers_to_add: decision.responseHeaders.map(overwrite) } : {}),
        ...(decision.removeQueryParams.length > 0 ? { query_parameters_to_remove: [...decision.removeQueryParams] } : {}),
      },
      dynamic_metadata: metadata(decision.id, decision.route, decision.principal, extra),
    },
  };
}

function denyReply(decision: DenyDecision, decisionIdHeader: string): CheckReply {
  const entry = catalogEntry(decision.code);
  if (entry.failure) return { kind: 'error', code: entry.grpc, details: `${decision.code}: ${decision.detail}` };
  return {
    kind: 'response',
    response: {
      status: { code: entry.grpc, message: decision.code },
      denied_response: {
        // envoy.type.v3.StatusCode numbers its values like the HTTP statuses they name
        status: { code: entry.status },
        // the same extra headers the HTTP adapter's denials carry
        headers: [
          ...decision.headers.map(overwrite),
          overwrite(['content-type', PROBLEM_CONTENT_TYPE]),
          overwrite(['cache-control', 'no-store']),
          overwrite([decisionIdHeader, decision.id]),
        ],
        body: denialBody(decision),
      },
      dynamic_metadata: metadata(decision.id, decision.route, decision.principal, { denial: decision.code }),
    },
  };
}

/** `decisionIdHeader`: the configured identity header name for the decision id, sent on denials too. */
export function checkReplyFor(decision: Decision, decisionIdHeader: string): CheckReply {
  return decision.kind === 'allow' ? allowReply(decision) : denyReply(decision, decisionIdHeader);
}
