# syntax=docker/dockerfile:1.7
# One image for both Portcullis services; the command selects which one runs:
#   control plane  node dist/control-plane/src/main.js   (default)
#   data plane     node dist/authz-service/src/main.js
#   migrations     node dist/control-plane/src/migrate.js
# Nothing secret is baked in: every credential arrives through the environment at run time.

# Pinned by tag and digest so a rebuild never silently changes the runtime.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

# ── deps: every dependency, dev included, for the compiler ─────────────────────────────
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# ── build: TypeScript → dist/ ──────────────────────────────────────────────────────────
FROM deps AS build
COPY . .
# proto/ holds runtime .proto contracts; created empty if a checkout has none so the COPY below never fails.
RUN npm run build && mkdir -p proto

# ── runtime: production dependencies and compiled code only ───────────────────────────
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORTCULLIS_DATA_DIR=/var/lib/portcullis/data \
    PORTCULLIS_SNAPSHOT_DIR=/var/lib/portcullis/snapshot
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
 && npm cache clean --force \
 && mkdir -p /var/lib/portcullis/data /var/lib/portcullis/snapshot \
 && chown -R 1000:1000 /var/lib/portcullis
COPY --from=build /src/dist ./dist
COPY --from=build /src/proto ./proto
COPY gateway-config/sample-upstream ./gateway-config/sample-upstream
COPY gateway-config/compose/seed.mjs ./gateway-config/compose/seed.mjs

# The base image's unprivileged "node" user, by number so Kubernetes' runAsNonRoot can verify it.
# Application files stay root-owned: the process can read but never rewrite its own code.
USER 1000:1000

# 8080 control-plane REST · 8282 state sync (gRPC) · 8181 forwardAuth/auth_request · 9191 Envoy ext_authz
EXPOSE 8080 8282 8181 9191

# Healthy when whichever service this container runs answers /healthz; plain node, no curl in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const e=process.env;Promise.any([e.PORTCULLIS_CONTROL_PLANE_PORT||8080,e.PORTCULLIS_AUTHZ_PORT||8181].map(p=>fetch('http://127.0.0.1:'+p+'/healthz',{signal:AbortSignal.timeout(3000)}).then(r=>{if(!r.ok)throw new Error(String(r.status))}))).then(()=>process.exit(0),()=>process.exit(1))"]

CMD ["node", "dist/control-plane/src/main.js"]
