#!/usr/bin/env bash
# Runs Sigil's whole test suite on a fresh machine.
#
# 1. Installs the system packages the tests need when they are missing
#    (Debian/Ubuntu: apt-get, as root or through sudo).
# 2. Starts a throw-away PostgreSQL on a loopback port so the storage
#    conformance suite runs against both backends (SQLite always).
# 3. Checks formatting and lints, then runs every test of the workspace.
#
# Tests start the real server on loopback ports and hand signatures to the
# independent verifiers: openssl, osslsigncode, jarsigner/keytool. The PKCS#11
# module's tests drive pkcs11-tool, OpenSSL's libp11 engine, jarsigner (SunPKCS11)
# and osslsigncode through libsigil_pkcs11.so.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# --- 1. system packages -------------------------------------------------------
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need openssl openssl
need osslsigncode osslsigncode
need wixl wixl   # MSI packages for the Authenticode MSI tests (msitools)
need gcab gcab   # cabinets for the Authenticode CAB tests
need x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64
need i686-w64-mingw32-gcc gcc-mingw-w64-i686
need jarsigner openjdk-17-jdk-headless
need keytool openjdk-17-jdk-headless
need sqlite3 sqlite3
need zip zip
need unzip unzip
need curl curl
need softhsm2-util softhsm2   # the PKCS#11 (HSM) backend tests
need pkcs11-tool opensc
need javac openjdk-17-jdk-headless   # the PKCS#11 module's jarsigner test builds its JAR
# libp11's OpenSSL engine (the PKCS#11 module's openssl and osslsigncode tests): a library, no command
[ -f /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so ] || missing+=(libengine-pkcs11-openssl)
need c++ g++   # libfuzzer-sys, for the fuzz targets' check
need node nodejs   # syntax check of the web console's script
need chromium chromium   # the web console's browser test (tests/browser/console.py)
need chromedriver chromium-driver
need groovy groovy   # the Jenkins shared library's step (integrations/jenkins), Groovy 2.4 as pipelines
need systemd-analyze systemd   # verifies contrib/systemd
need man man-db   # renders `sigil man`
need promtool prometheus   # promtool check metrics on a live scrape of the metrics listener
need jq jq         # the GitHub action's and GitLab template's shell steps
need haproxy haproxy   # the two-node test (crates/cli/tests/nodes.rs) balances its nodes with it
# OpenPGP (issue 21): gpg verifies `sigil sign --format openpgp` (crates/openpgp, crates/cli/tests/openpgp.rs)
need gpg gpg
need rpmbuild rpm   # RPM packages: built by rpmbuild, checked by rpm -K (crates/rpm, crates/cli/tests/rpm.rs)
/usr/bin/python3 -c "import yaml" >/dev/null 2>&1 || missing+=(python3-yaml)   # reads their YAML in the tests
python3 -c "import cryptography" >/dev/null 2>&1 || missing+=(python3-cryptography)
# The browser test runs Debian's python (its selenium drives the Debian chromium).
/usr/bin/python3 -c "import selenium" >/dev/null 2>&1 || missing+=(python3-selenium)
/usr/bin/python3 -c "import cryptography" >/dev/null 2>&1 || missing+=(python3-cryptography)
pg_bin=""
for dir in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")" /usr/lib/postgresql/*/bin; do
  if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then pg_bin="$dir"; break; fi
done
[ -n "$pg_bin" ] || missing+=(postgresql)

if [ "${#missing[@]}" -gt 0 ]; then
  # De-duplicate while keeping order.
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
  log "installing missing packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "error: missing packages (${missing[*]}) and neither root nor sudo is available: install them and re-run" >&2
    exit 1
  fi
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -z "$pg_bin" ] && [ -x "$dir/initdb" ]; then pg_bin="$dir"; fi
  done
fi

# The OpenAPI document's test (crates/cli/tests/operations.rs) validates docs/openapi.json
# with openapi-spec-validator, which Debian 12 does not package: from PyPI, pinned, into the
# python3 the test runs.
python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('openapi-spec-validator') != '0.9.0')" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
       openapi-spec-validator==0.9.0

# --- 2. PostgreSQL for the conformance suite ---------------------------------
pg_dir="$(mktemp -d /tmp/sigil-pg.XXXXXX)"
pg_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 54329)"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  # PostgreSQL refuses to run as root.
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
  chown postgres "$pg_dir"
  as_pg=(runuser -u postgres --)
fi
stop_pg() { "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pg_dir"; }
trap stop_pg EXIT
log "starting PostgreSQL on 127.0.0.1:$pg_port"
"${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust --no-sync >/dev/null
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-h 127.0.0.1 -p $pg_port -k $pg_dir -F" start >/dev/null
export SIGIL_TEST_PG_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"

# --- 3. checks and tests -------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "fuzz targets: each runs 3 s from its seed corpus (longer runs: scripts/fuzz.sh SECONDS)"
scripts/fuzz.sh 3
log "cargo test"
cargo test --workspace --locked "$@"
