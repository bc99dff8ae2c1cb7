# Dialgate gateway image: `dialgate serve` on port 8080 as an unprivileged user.

# The web consoles are built with npm in a stage of their own; only the bundles are kept.
FROM node:20-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
COPY extension /src/extension
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package needs: pyproject.toml names README.md as its readme.
COPY pyproject.toml README.md /src/
COPY gateway /src/gateway
COPY --from=web /src/gateway/static/app /src/gateway/static/app
COPY webhooks /src/webhooks
COPY crm /src/crm
COPY dialer /src/dialer
RUN pip install /src && rm -rf /src

RUN useradd --create-home --home-dir /home/dialgate --uid 10001 --user-group dialgate
USER dialgate
# The working directory holds ./dialgate.db when DATABASE_URL is left at its SQLite default.
WORKDIR /home/dialgate

EXPOSE 8080
CMD ["dialgate", "serve", "--host", "0.0.0.0", "--port", "8080"]
