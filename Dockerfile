# One image for every Bazaar process. The default command runs the API; the
# worker, scheduler and migration run from the same image with a command
# override (see docker-compose.yml):
#   docker run bazaar-app npm run start:worker
#   docker run bazaar-app npm run start:scheduler
#   docker run bazaar-app npm run db:migrate
FROM node:20-bookworm-slim

ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

WORKDIR /app

# The processes run TypeScript through tsx (a devDependency), so the install
# keeps dev dependencies: NODE_ENV=production is set only after `npm ci`.
# Native modules (argon2, msgpackr-extract) ship linux prebuilds, so no
# compiler toolchain is needed in the image.
COPY . .
RUN npm ci && npm cache clean --force

ENV NODE_ENV=production

# Run unprivileged. tsx caches compiled files under the OS temp dir, which the
# node user can write.
USER node

# api (also /trpc and /admin/queues), worker metrics, scheduler metrics
EXPOSE 3000 9101 9201

# npm forwards SIGTERM/SIGINT to the process, so graceful shutdown
# (SHUTDOWN_TIMEOUT_MS) works; docker-compose also sets `init: true`.
CMD ["npm", "run", "start:api"]
