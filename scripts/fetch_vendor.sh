#!/usr/bin/env bash
# Fetches the front-end files the dashboards vendor, from the npm registry, into
# entrypoints/http/pages/static/vendor/ (committed: the service needs no Node and no CDN to run).
# Run it only to change a version; docs/dashboards.md lists what is vendored and why.
set -euo pipefail
cd "$(dirname "$0")/.."

UPLOT_VERSION=1.6.32 # MIT; 51 KB min / 22 KB gzip
dest=entrypoints/http/pages/static/vendor/uplot
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "uplot@${UPLOT_VERSION}" >/dev/null && tar -xzf "uplot-${UPLOT_VERSION}.tgz")
rm -rf "$dest" && mkdir -p "$dest"
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$work/package/LICENSE" "$dest/"
echo "$UPLOT_VERSION" >"$dest/VERSION"
sha256sum "$dest"/* | sed "s|$dest/||"
