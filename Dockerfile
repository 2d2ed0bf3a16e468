# One image for every Bazaar process, in two stages: `build` installs every
# dependency and compiles the workspaces with swc (`npm run build`, the
# compiler the tests run through); the final stage has production dependencies
# only (`npm ci --omit=dev`) and the compiled dist/ folders, run by plain node.
# The default command runs the API; the worker, scheduler and migration run
# from the same image with a command override (see docker-compose.yml):
#   docker run bazaar-app node apps/worker/dist/main.js
#   docker run bazaar-app node apps/scheduler/dist/main.js
#   docker run bazaar-app node packages/db/dist/cli/migrate.js

# The runtime is Node 24 LTS (the project's `engines`).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /app
# The manifests first, so the install layer is reused while only sources change.
COPY package.json package-lock.json .swcrc ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/scheduler/package.json apps/scheduler/
COPY apps/fake-gateway/package.json apps/fake-gateway/
COPY packages/contracts/package.json packages/contracts/
COPY packages/db/package.json packages/db/
COPY packages/domain/package.json packages/domain/
COPY packages/platform/package.json packages/platform/
COPY packages/queue/package.json packages/queue/
RUN npm ci
COPY scripts/build.mjs scripts/
COPY apps apps
COPY packages packages
RUN npm run build

FROM ${NODE_IMAGE}
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/apps/api/package.json apps/api/
COPY --from=build /app/apps/worker/package.json apps/worker/
COPY --from=build /app/apps/scheduler/package.json apps/scheduler/
COPY --from=build /app/apps/fake-gateway/package.json apps/fake-gateway/
COPY --from=build /app/packages/contracts/package.json packages/contracts/
COPY --from=build /app/packages/db/package.json packages/db/
COPY --from=build /app/packages/domain/package.json packages/domain/
COPY --from=build /app/packages/platform/package.json packages/platform/
COPY --from=build /app/packages/queue/package.json packages/queue/
# Native modules (argon2, msgpackr-extract) ship linux prebuilds: no compiler toolchain in the image.
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/apps/api/dist apps/api/dist
COPY --from=build /app/apps/worker/dist apps/worker/dist
COPY --from=build /app/apps/scheduler/dist apps/scheduler/dist
COPY --from=build /app/apps/fake-gateway/dist apps/fake-gateway/dist
COPY --from=build /app/packages/contracts/dist packages/contracts/dist
COPY --from=build /app/packages/db/dist packages/db/dist
COPY --from=build /app/packages/domain/dist packages/domain/dist
COPY --from=build /app/packages/platform/dist packages/platform/dist
COPY --from=build /app/packages/queue/dist packages/queue/dist

# V8 heap settings (scripts/lib/node-options.json, which says why); set NODE_OPTIONS to override.
ENV NODE_OPTIONS="--max-semi-space-size=16 --max-old-space-size=128"

# Run unprivileged.
USER node

# api (/trpc, /admin/queues, /healthz, /readyz), api metrics, worker metrics, scheduler metrics
EXPOSE 3000 9001 9101 9201

# node is PID 1's child (docker-compose sets `init: true`) and gets SIGTERM
# itself, so graceful shutdown (SHUTDOWN_TIMEOUT_MS) works.
CMD ["node", "--enable-source-maps", "apps/api/dist/main.js"]
