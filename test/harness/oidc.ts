/**
 * A real OIDC issuer over real HTTP for tests: discovery document, JWKS (with a Keycloak-like `RSA-OAEP`
 * `use:"enc"` key next to the signing keys), token signing with jose, key rotation, a count of every fetch,
 * and switches that make the endpoints fail (500), hang, or answer garbage.
 *
 *   const idp = await TestIssuer.start();              // http://127.0.0.1:<port>/realms/test, RS256
 *   const token = await idp.keycloakAccessToken({ preferred_username: 'bob' });
 *   idp.jwksMode = 'hang';                              // the next JWKS request never answers
 *   await idp.rotate({ retireOld: true });              // new signing key, old one unpublished
 *   await idp.close();
 *
 * Paths follow Keycloak 17+: `/realms/<realm>/.well-known/openid-configuration` and
 * `/realms/<realm>/protocol/openid-connect/certs`.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, type JWK, type JWTPayload, SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';

export type SigningAlg = 'RS256' | 'ES256';
/** ok; error: HTTP 500; hang: never answers; garbage: 200 with a non-JSON body; wrong-shape: 200 JSON that is not the document. */
export type EndpointMode = 'ok' | 'error' | 'hang' | 'garbage' | 'wrong-shape';

export interface TestIssuerOptions {
  /** Keycloak realm name, part of the issuer URL. Default "test". */
  readonly realm?: string;
  /** Signing algorithm of the issuer's keys. Default RS256. */
  readonly alg?: SigningAlg;
  /** Publish a Keycloak-like RSA-OAEP encryption key in the JWKS. Default true. */
  readonly encryptionKey?: boolean;
  /** Host in the issuer URL (the server listens on 127.0.0.1 either way). Default 127.0.0.1. */
  readonly host?: string;
}

export interface SignOptions {
  /** `kid` header; default the current signing key's; null leaves it out. An unpublished kid yields "no matching key". */
  readonly kid?: string | null;
  /** Header `typ`; default "JWT"; null leaves it out. */
  readonly typ?: string | null;
  /** Sign with this key instead of the current signing key (a forged signature when the kid is a real one). */
  readonly privateKey?: CryptoKey;
  /** Algorithm to sign with; default the issuer's. */
  readonly alg?: string;
}

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly jwk: JWK;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

export class TestIssuer {
  /** Current signing key last: tokens are signed with it. */
  #keys: SigningKey[] = [];
  #encryptionJwk: JWK | undefined;
  #jwksFetches = 0;
  #discoveryFetches = 0;
  readonly #hanging = new Set<ServerResponse>();
  jwksMode: EndpointMode = 'ok';
  discoveryMode: EndpointMode = 'ok';

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly alg: SigningAlg,
    readonly realm: string,
    readonly host: string,
  ) {}

  static async start(options: TestIssuerOptions = {}): Promise<TestIssuer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const issuer = new TestIssuer(server, port, options.alg ?? 'RS256', options.realm ?? 'test', options.host ?? '127.0.0.1');
    server.on('request', (req, res) => issuer.#handle(req, res));
    await issuer.rotate();
    if (options.encryptionKey !== false) {
      const { publicKey } = await generateKeyPair('RSA-OAEP', { extractable: true });
      issuer.#encryptionJwk = { ...(await exportJWK(publicKey)), kid: `enc-${randomUUID()}`, use: 'enc', alg: 'RSA-OAEP' };
    }
    return issuer;
  }

  /** `iss` of this issuer's tokens. */
  get issuer(): string {
    return `http://${this.host}:${this.port}/realms/${this.realm}`;
  }

  /** The same realm under another host name (what Keycloak puts in `iss` when reached via another hostname). */
  aliasIssuer(host = 'localhost'): string {
    return `http://${host}:${this.port}/realms/${this.realm}`;
  }

  get jwksUri(): string {
    return `${this.issuer}/protocol/openid-connect/certs`;
  }

  get discoveryUrl(): string {
    return `${this.issuer}/.well-known/openid-configuration`;
  }

  /** JWKS requests received so far (including failed and hanging ones). */
  get jwksFetches(): number {
    return this.#jwksFetches;
  }

  get discoveryFetches(): number {
    return this.#discoveryFetches;
  }

  /** kid of the key new tokens are signed with. */
  get kid(): string {
    return this.#current().kid;
  }

  /** Signing kids currently published. */
  get publishedKids(): string[] {
    return this.#keys.map((k) => k.kid);
  }

  /** The JWKS document as served in mode "ok". */
  jwks(): { keys: JWK[] } {
    return { keys: [...this.#keys.map((k) => k.jwk), ...(this.#encryptionJwk ? [this.#encryptionJwk] : [])] };
  }

  /** SPKI PEM of the current signing key (e.g. to forge an HS256 token "signed" with the public key). */
  publicKeyPem(): Promise<string> {
    return exportSPKI(this.#current().publicKey);
  }

  /** Add a new signing key and sign with it from now on; `retireOld` unpublishes the previous ones. */
  async rotate(options: { readonly retireOld?: boolean } = {}): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(this.alg, { extractable: true });
    const kid = randomUUID();
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: this.alg };
    this.#keys = options.retireOld ? [{ kid, privateKey, publicKey, jwk }] : [...this.#keys, { kid, privateKey, publicKey, jwk }];
    return kid;
  }

  /** Sign exactly these claims (nothing added). */
  async sign(claims: JWTPayload, options: SignOptions = {}): Promise<string> {
    const key = this.#current();
    const header: { alg: string; kid?: string; typ?: string } = { alg: options.alg ?? this.alg };
    if (options.kid !== null) header.kid = options.kid ?? key.kid;
    if (options.typ !== null) header.typ = options.typ ?? 'JWT';
    return new SignJWT(claims).setProtectedHeader(header).sign(options.privateKey ?? key.privateKey);
  }

  /**
   * A Keycloak-shaped access token (typ Bearer, azp, realm_access, resource_access, scope, aud "account",
   * preferred_username …), valid for 300 s. `overrides` replace top-level claims; an undefined value removes one.
   */
  keycloakAccessToken(overrides: JWTPayload = {}, options: SignOptions = {}): Promise<string> {
    return this.sign(
      {
        ...this.#keycloakSession(),
        aud: 'account',
        typ: 'Bearer',
        acr: '1',
        'allowed-origins': ['*'],
        realm_access: { roles: [`default-roles-${this.realm}`, 'offline_access', 'uma_authorization'] },
        resource_access: { account: { roles: ['manage-account', 'manage-account-links', 'view-profile'] } },
        scope: 'openid profile email',
        email_verified: true,
        name: 'Alice Example',
        given_name: 'Alice',
        family_name: 'Example',
        email: 'alice@example.com',
        ...overrides,
      },
      options,
    );
  }

  /** A Keycloak-shaped ID token: typ "ID", aud = the client. */
  keycloakIdToken(overrides: JWTPayload = {}, options: SignOptions = {}): Promise<string> {
    return this.sign({ ...this.#keycloakSession(), aud: 'portcullis-cli', typ: 'ID', ...overrides }, options);
  }

  /** Claims every Keycloak token of one login carries. */
  #keycloakSession(): JWTPayload {
    const iat = nowSeconds();
    return {
      exp: iat + 300,
      iat,
      jti: randomUUID(),
      iss: this.issuer,
      sub: 'f3a1c2d4-0000-4000-8000-000000000001',
      azp: 'portcullis-cli',
      sid: randomUUID(),
      preferred_username: 'alice',
    };
  }

  async close(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#hanging.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #current(): SigningKey {
    const key = this.#keys[this.#keys.length - 1];
    if (!key) throw new Error('issuer has no signing key');
    return key;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const base = `/realms/${this.realm}`;
    if (req.method === 'GET' && path === `${base}/protocol/openid-connect/certs`) {
      this.#jwksFetches++;
      this.#answer(res, this.jwksMode, this.jwks());
    } else if (req.method === 'GET' && path === `${base}/.well-known/openid-configuration`) {
      this.#discoveryFetches++;
      this.#answer(res, this.discoveryMode, {
        issuer: this.issuer,
        jwks_uri: this.jwksUri,
        authorization_endpoint: `${this.issuer}/protocol/openid-connect/auth`,
        token_endpoint: `${this.issuer}/protocol/openid-connect/token`,
        id_token_signing_alg_values_supported: [this.alg],
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
      });
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    }
  }

  #answer(res: ServerResponse, mode: EndpointMode, document: unknown): void {
    switch (mode) {
      case 'ok':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document));
        return;
      case 'error':
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"unknown_error"}');
        return;
      case 'hang':
        this.#hanging.add(res);
        res.once('close', () => this.#hanging.delete(res));
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('<html>upstream proxy error</html>');
        return;
      case 'wrong-shape':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":"world","keys":"none"}');
        return;
    }
  }
}
