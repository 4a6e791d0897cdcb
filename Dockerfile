# syntax=docker/dockerfile:1
# Keel's production image: `docker build -t keel .` (docs/operations.md). Both stages use the same exact
# Node 20 release (bump them together).

# Build: every dependency, then the esbuild bundle (npm run build -> dist/).
FROM node:20.19.5-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

# Runtime: production dependencies only (the bundle leaves a few packages in node_modules, see scripts/build.ts).
FROM node:20.19.5-bookworm-slim AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/app/data
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY migrations ./migrations
COPY scripts/healthcheck.mjs ./scripts/healthcheck.mjs
COPY --from=build /app/dist ./dist
# The embedded engine's directory (unused with DATABASE_URL) is the only place the app writes.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8000 9464
# No --start-period: Keel listens about 1 s after start, well inside 3 retries 10 s apart (and dockerfilelint 1.8
# misreads the option's hyphen as an unknown option).
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["node", "scripts/healthcheck.mjs"]
# tini is PID 1: it forwards SIGTERM to Node (which drains, see README) and reaps zombies.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/server.js"]
