# The triad image the Helm chart runs (/usr/bin/triad; docs/kubernetes.md).
#   docker build -t <registry>/triad:0.1.0 . && docker push <registry>/triad:0.1.0
# Debian 12 throughout, as `make run` (same packages, same compiler).
FROM debian:12 AS build
RUN apt-get update && apt-get install -y --no-install-recommends make gcc pkg-config \
      libraft-dev libuv1-dev libprotobuf-c-dev protobuf-c-compiler librocksdb-dev \
      libsnappy-dev libcurl4-openssl-dev libnghttp2-dev libpcre2-dev libyaml-dev \
      zlib1g-dev libzstd-dev liblz4-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make build/triad

FROM debian:12-slim
# the shared libraries build/triad links (ldd on Debian 12)
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
      libraft2 libuv1 libprotobuf-c1 librocksdb7.8 libsnappy1v5 libcurl4 \
      libnghttp2-14 libpcre2-8-0 libyaml-0-2 zlib1g libzstd1 liblz4-1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/triad triad \
    && mkdir -p /var/lib/triad && chown triad /var/lib/triad
COPY --from=build /src/build/triad /usr/bin/triad
USER 10001
WORKDIR /var/lib/triad
EXPOSE 3100 3200 4317 4318 9095
ENTRYPOINT ["/usr/bin/triad"]
CMD ["serve", "--data-dir", "/var/lib/triad"]
