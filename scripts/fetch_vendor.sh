#!/usr/bin/env bash
# Fetches the front-end files the dashboards vendor, from the npm registry, into
# entrypoints/http/pages/static/vendor/ (committed: the service needs no Node and no CDN to run).
# Run it only to change a version; docs/dashboards.md lists what is vendored and why.
set -euo pipefail
cd "$(dirname "$0")/.."

UPLOT_VERSION=1.6.32    # MIT; 51 KB min / 22 KB gzip; served to browsers
AXE_CORE_VERSION=4.14.1 # MPL-2.0; used by the accessibility tests only, never served
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch NAME VERSION DEST FILE...: the package from the registry, FILEs (paths inside it) copied to DEST.
fetch() {
  local name=$1 version=$2 dest=$3
  shift 3
  (cd "$work" && npm pack --silent "${name}@${version}" >/dev/null && mkdir -p "$name" && tar -xzf "${name}-${version}.tgz" -C "$name")
  rm -rf "$dest" && mkdir -p "$dest"
  for file in "$@"; do cp "$work/$name/package/$file" "$dest/"; done
  echo "$version" >"$dest/VERSION"
  sha256sum "$dest"/* | sed "s|^|  |"
}

fetch uplot "$UPLOT_VERSION" entrypoints/http/pages/static/vendor/uplot dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE
fetch axe-core "$AXE_CORE_VERSION" tests/e2e/vendor/axe-core axe.min.js LICENSE
