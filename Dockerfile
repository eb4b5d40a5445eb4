# The runbooks image the export CronJobs run (`runbookImage` in Pulumi.<stack>.yaml):
#   docker build -t ghcr.io/labdojo/labdojo-dr-runbooks:0.1.0 . && docker push ghcr.io/labdojo/labdojo-dr-runbooks:0.1.0
# Node (the runbooks), the PostgreSQL 15 client (pg_dump, psql), pgBackRest (catalog and
# restores from the cloud repos), restic and git (the application tree), and the project.
# BASE: the official Node image; the build test passes the same layout built from Debian (no registry here)
ARG BASE=node:20-bookworm-slim
FROM ${BASE}

RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 pgbackrest restic git lz4 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# the CronJobs run as uid 26, not root (securityContext runAsNonRoot, runAsUser 26)
RUN useradd --system --uid 26 --gid 65534 --home-dir /app --no-create-home --shell /usr/sbin/nologin labdojo

WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY Pulumi.yaml Pulumi.prod.yaml Pulumi.dr.yaml tsconfig.json ./
COPY core ./core
COPY config ./config
COPY runbooks ./runbooks

USER 26
ENV HOME=/tmp
CMD ["npx", "zx", "runbooks/backup.ts", "--help"]
