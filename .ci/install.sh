#!/usr/bin/env bash
# Install from the registries what the tests need beyond the Python test extra (which the README's
# test command installs). Idempotent; apt-get update runs at most once, only when a package is
# missing, so a warm machine spends no time here.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# podman, buildah, runc, debootstrap: build and run generated Dockerfiles on a local Debian base
# image (../shared/CONTAINERS.md). fuse-overlayfs is not needed: root uses the overlay driver.
# prometheus-pushgateway: the real Pushgateway the cron job's metrics are pushed to in its tests.
# prometheus: the real server that scrapes the generated API and worker (test_prometheus_scrape.py).
# memcached: the cache server of the API's cache=memcached (test_system.py, its generated tests).
APT_PACKAGES=(podman buildah runc debootstrap prometheus-pushgateway prometheus memcached)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "ci: installing ${missing[*]}"
  apt="apt-get -q -y -o DPkg::Lock::Timeout=300"
  $apt update >/dev/null
  $apt install --no-install-recommends "${missing[@]}" >/dev/null
fi

# The vendored CRD schemas are read from ../shared beside the clone; fail here, clearly, not in
# the middle of the test run.
if [ ! -d ../shared/schemas/crds ]; then
  echo "ci: $(cd .. && pwd)/shared/schemas/crds is missing: put a copy of shared/ beside the clone" >&2
  exit 1
fi

# Node.js runs Backstage's own catalog model (tests/node) on the generated catalog-info.yaml.
if ! command -v npm >/dev/null; then
  echo "ci: installing nodejs npm"
  apt="apt-get -q -y -o DPkg::Lock::Timeout=300"
  $apt update >/dev/null
  $apt install --no-install-recommends nodejs npm >/dev/null
fi
[ -d tests/node/node_modules/@backstage/catalog-model ] ||
  npm ci --prefix tests/node --no-audit --no-fund --silent

# dynalite: the DynamoDB stand-in that validates as strictly as AWS (tests/support/dynamodb.py).
[ -x .cache/dynalite/node_modules/.bin/dynalite ] ||
  npm install --prefix .cache/dynalite dynalite@4.0.0 --no-audit --no-fund --silent
# The MongoDB stand-in (no mongod installs here): services.sh starts it on 27017, which runs
# before the test extra (which also lists it) is installed.
python3 -m pip show nx-27017 >/dev/null 2>&1 || python3 -m pip install -q 'nx-27017>=0.8.1'
