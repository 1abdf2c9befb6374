/**
 * The OpenAPI 3.1 document, generated from the same route definitions and zod schemas that validate
 * requests, served at /openapi.json, with Swagger UI at /docs (from swagger-ui-dist, no CDN).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import express, { type Express } from 'express';
import { documentRoute, type Route } from './route.js';

export const OPENAPI_VERSION = '3.1.0';

export function buildOpenApiDocument(routes: readonly Route[], version: string): object {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'A Portcullis API key (admin scope for /v1 admin endpoints), an OIDC access token, or the bootstrap admin key.',
  });
  for (const route of routes) documentRoute(registry, route);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: OPENAPI_VERSION,
    info: {
      title: 'Portcullis control plane',
      version,
      description: 'System of record for services, plans, consumers, issuers and API keys. Errors are RFC 9457 problem+json with a stable `code`.',
    },
  });
}

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Portcullis control plane API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>`;

// an external script, so the page works under helmet's default Content-Security-Policy
const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });`;

export function mountDocs(app: Express, document: object): void {
  const json = JSON.stringify(document);
  app.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(json);
  });
  app.get(['/docs', '/docs/'], (_req, res) => {
    res.type('html').send(DOCS_PAGE);
  });
  app.get('/docs/init.js', (_req, res) => {
    res.type('application/javascript').send(DOCS_INIT);
  });
  const assets = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  app.use('/docs', express.static(assets, { index: false, maxAge: '1h' }));
}
