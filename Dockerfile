# syntax=docker/dockerfile:1
# erpgate: one static binary on a distroless base, running as non-root.
#   docker build -t erpgate .
#   docker run -p 8080:8080 -p 9090:9090 -v erpgate-data:/data \
#     -v $PWD/erpgate.yaml:/etc/erpgate/erpgate.yaml:ro erpgate
# In the config: listen 0.0.0.0:8080, admin_listen 0.0.0.0:9090 and
# store.dsn /data/erpgate.db. The root filesystem may be read-only.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .dockerignore keeps .git out, so the commit and date come as build args:
#   docker build --build-arg VERSION=v1.2.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
ARG VERSION=dev
ARG COMMIT=
ARG BUILD_DATE=
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.buildTime=${BUILD_DATE}" -o /out/erpgate ./cmd/erpgate \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="erpgate" \
      org.opencontainers.image.description="Authentication gateway for ERP APIs: OAuth 2.0 / OIDC issuer, edge proxy, license sessions" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/erpgate /usr/local/bin/erpgate
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV ERPGATE_CONFIG=/etc/erpgate/erpgate.yaml
VOLUME ["/data"]
EXPOSE 8080 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["/usr/local/bin/erpgate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/erpgate"]
CMD ["serve"]
