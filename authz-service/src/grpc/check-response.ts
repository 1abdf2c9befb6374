/**
 * Decision → what goes back to Envoy. Three shapes, because Envoy treats them differently:
 * - allow: status OK with an OkHttpResponse (identity headers, credentials stripped, RateLimit headers);
 * - deny: a non-OK status with a DeniedHttpResponse whose HTTP status is set explicitly — Envoy answers 403
 *   for every denial otherwise, and maps no gRPC code to 401 or 429 by itself;
 * - could not decide (catalog `failure`): a gRPC error instead of a CheckResponse. A *successful* RPC with
 *   status UNAVAILABLE is a denial to Envoy; only an RPC error lets `failure_mode_allow` and
 *   `status_on_error` apply, as the operator configured them.
 */
import type { AllowDecision, Decision, DenyDecision, HeaderPair, Principal, RouteRef } from '../core/decision.js';
import { catalogEntry, GrpcCode, PROBLEM_CONTENT_TYPE, problem } from '../core/errors.js';
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

/**
 * Header names the upstream must not see: the credentials the decision names, and every identity header
 * the decision does not set, so that a client cannot supply one itself (an anonymous call must not arrive
 * with a forged `X-Portcullis-Consumer`). Envoy removes after it sets, so a set name must never be listed.
 */
function headersToRemove(decision: AllowDecision, identityHeaders: readonly string[]): string[] {
  const excluded = new Set<string>();
  for (const [name] of decision.upstreamHeaders) excluded.add(name.toLowerCase());
  const out: string[] = [];
  const add = (name: string) => {
    const lower = name.toLowerCase();
    if (excluded.has(lower)) return;
    excluded.add(lower);
    out.push(lower);
  };
  decision.removeHeaders.forEach(add);
  identityHeaders.forEach(add);
  return out;
}

function allowReply(decision: AllowDecision, identityHeaders: readonly string[]): CheckReply {
  const remove = headersToRemove(decision, identityHeaders);
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

function denyReply(decision: DenyDecision): CheckReply {
  const entry = catalogEntry(decision.code);
  if (entry.failure) return { kind: 'error', code: entry.grpc, details: `${decision.code}: ${decision.detail}` };
  return {
    kind: 'response',
    response: {
      status: { code: entry.grpc, message: decision.code },
      denied_response: {
        // envoy.type.v3.StatusCode numbers its values like the HTTP statuses they name
        status: { code: entry.status },
        headers: [...decision.headers.map(overwrite), overwrite(['content-type', PROBLEM_CONTENT_TYPE])],
        body: JSON.stringify(problem(decision.code, decision.detail, decision.id)),
      },
      dynamic_metadata: metadata(decision.id, decision.route, decision.principal, { denial: decision.code }),
    },
  };
}

/** `identityHeaders`: every configured identity header name, lower-case. */
export function checkReplyFor(decision: Decision, identityHeaders: readonly string[]): CheckReply {
  return decision.kind === 'allow' ? allowReply(decision, identityHeaders) : denyReply(decision);
}
