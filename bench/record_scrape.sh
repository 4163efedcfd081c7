#!/bin/sh
# record_scrape.sh MINUTES OUT - records a real scrape for build/bench/seal:
# Prometheus 3.5.3 (build/tools/prometheus-3.5, `make prometheus-3.5`)
# scrapes Debian's prometheus-node-exporter (apt-get download, unpacked into
# the work directory, nothing installed, no service started) and itself every
# 15 s for MINUTES minutes, both on 127.0.0.1; then Prometheus is stopped and
# its TSDB dumped as OpenMetrics text into OUT with promtool 3.5.3
# (build/tools/promtool-3.5, `make promtool-3.5`):
#
#   bench/record_scrape.sh 65 /var/tmp/scrape.om
#   build/bench/seal --openmetrics /var/tmp/scrape.om --no-load
#
# The work directory (WORK, default /var/tmp/triad-scrape) keeps the TSDB.
set -eu
[ $# -eq 2 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
MINUTES=$1 OUT=$2
WORK=${WORK:-/var/tmp/triad-scrape}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROM=$ROOT/build/tools/prometheus-3.5/usr/bin/prometheus
PROMTOOL=$ROOT/build/tools/promtool-3.5/usr/bin/promtool
[ -x "$PROM" ] && [ -x "$PROMTOOL" ] || { echo "run: make prometheus-3.5 promtool-3.5" >&2; exit 1; }
mkdir -p "$WORK"
cd "$WORK"
if [ ! -x ne/usr/bin/prometheus-node-exporter ]; then
    apt-get download prometheus-node-exporter
    dpkg-deb -x prometheus-node-exporter_*.deb ne
fi
cat > prometheus.yml <<'YML'
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ['127.0.0.1:19090']}]
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:19100']}]
YML
ne/usr/bin/prometheus-node-exporter --web.listen-address=127.0.0.1:19100 >ne.log 2>&1 &
NE=$!
"$PROM" --config.file=prometheus.yml --storage.tsdb.path=prom-data \
    --web.listen-address=127.0.0.1:19090 >prom.log 2>&1 &
PR=$!
trap 'kill $NE $PR 2>/dev/null || true' EXIT
sleep $((MINUTES * 60))
kill -TERM $PR
wait $PR || true
kill -TERM $NE
"$PROMTOOL" tsdb dump-openmetrics prom-data >"$OUT"
echo "$OUT: $(grep -vc '^#' "$OUT") samples"
