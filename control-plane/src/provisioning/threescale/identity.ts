/**
 * Who a consumer is in 3scale: the username and email its developer account is found by (and signed up
 * with). A consumer's name is the user's `preferred_username` for OIDC users, so the same person gets the
 * same 3scale account whichever way they arrive; names 3scale cannot take as a username fall back to a
 * stable one derived from the consumer id.
 */
import { createHash, randomBytes } from 'node:crypto';

/** porta's username rule. */
const USERNAME = /^[A-Za-z0-9_.@-]{3,40}$/;
const EMAIL = /^[^\s@]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

export interface ThreescaleIdentity {
  readonly username: string;
  readonly email: string;
  /** The email is the person's own (their name is an address), not one made up for the signup. */
  readonly realEmail: boolean;
}

export function identityOf(consumer: { readonly id: string; readonly name: string }, emailDomain: string): ThreescaleIdentity {
  const name = consumer.name.trim();
  const realEmail = EMAIL.test(name) && name.length <= 40;
  let username = name;
  if (!USERNAME.test(username)) username = consumer.id.replace(/[^A-Za-z0-9_.@-]/g, '-');
  if (!USERNAME.test(username)) username = `pc-${createHash('sha256').update(consumer.id).digest('hex').slice(0, 24)}`;
  return { username, email: realEmail ? name : `${username.replace(/@/g, '.')}@${emailDomain}`, realEmail };
}

/** Signup requires a password; the person signs in through SSO or resets it, so nobody needs to know it. */
export function throwawayPassword(): string {
  return randomBytes(24).toString('base64url');
}
