#!/usr/bin/env bash
# Sigil end-to-end benchmark, side by side with openssl, osslsigncode and jarsigner, in one run
# on one machine. Prints one table of ratios; every number in it was measured by this run.
#
#   bench/run.sh [--duration 10s] [--connections N] [--pipeline K] [--skip-build] [--nodes]
#
# --nodes: afterwards, bench/nodes.sh with the same options and binary (HAProxy against one and
# two nodes on PostgreSQL, PostgreSQL against SQLite; its own table).
#
# Environment: SIGIL=/path/to/sigil (default: cargo build --release -p sigil, then
# target/release/sigil), PKCS11_MODULE=/path/to/libsigil_pkcs11.so (default: cargo build --release
# -p sigil-pkcs11, then target/release/libsigil_pkcs11.so), KEEP=1 keeps the work directory, IDLE_CONNECTIONS=N idle connections
# for the memory step (default 1000). Needs openssl, osslsigncode, x86_64-w64-mingw32-gcc, wixl, gcab, zip,
# keytool/jarsigner (JDK), curl, python3, softhsm2-util (SoftHSM2, for the HSM rows;
# SOFTHSM_MODULE=/path/to/libsofthsm2.so if not at /usr/lib/softhsm/libsofthsm2.so).
#
# A part that cannot run (a missing tool, or a `sigil` subcommand that has not landed) prints
# "MISSING: ..." with what is missing, is shown as such in the table, and makes the script exit
# with status 1. No number is ever filled in for it.
set -euo pipefail

DURATION=10s
CONNECTIONS=""
PIPELINE=8
SKIP_BUILD=0
NODES=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --pipeline) PIPELINE="$2"; shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --nodes) NODES=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORES=$(nproc)
CONNECTIONS=${CONNECTIONS:-$((CORES * 4))}
WORK=$(mktemp -d /tmp/sigil-bench.XXXXXX)
RESULTS="$WORK/results.tsv"   # key <TAB> value, or key <TAB> MISSING: reason
: > "$RESULTS"
SERVER_PID=""
MISSING=0

cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ "${KEEP:-0}" == 1 ]]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

log() { printf '== %s\n' "$*" >&2; }
record() { printf '%s\t%s\n' "$1" "$2" >> "$RESULTS"; }
missing() {
  # missing KEY... -- REASON: marks every key as not measured, loudly.
  local reason="${*: -1}"
  printf 'MISSING: %s\n' "$reason" >&2
  for key in "${@:1:$#-1}"; do record "$key" "MISSING: $reason"; done
  MISSING=1
}
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$2"; }
# best_of N CMD...: runs CMD N times, prints the fastest wall time in seconds.
best_of() {
  local n=$1; shift
  local best="" t0 t1 t
  for _ in $(seq "$n"); do
    t0=$(now); "$@" > /dev/null 2>>"$WORK/cmd.err" || return 1; t1=$(now)
    t=$(elapsed "$t0" "$t1")
    if [[ -z "$best" ]] || python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$t" "$best"; then best=$t; fi
  done
  echo "$best"
}
# median_of N CMD...: runs CMD N times, prints the median wall time in seconds (for short
# commands, whose best run is luck: a process start depends on what else the machine does).
median_of() {
  local n=$1; shift
  local times=() t0 t1
  for _ in $(seq "$n"); do
    t0=$(now); "$@" > /dev/null 2>>"$WORK/cmd.err" || return 1; t1=$(now)
    times+=("$(elapsed "$t0" "$t1")")
  done
  python3 -c 'import sys, statistics; print(f"{statistics.median(map(float, sys.argv[1:])):.4f}")' "${times[@]}"
}
have() { command -v "$1" > /dev/null 2>&1; }
# timed KEY N CMD...: records the best of N runs of CMD, or marks KEY missing with the error.
timed() {
  local key=$1 n=$2 t
  shift 2
  if t=$(best_of "$n" "$@"); then
    record "$key" "$t"
  else
    missing "$key" "$1 failed: $(tail -1 "$WORK/cmd.err")"
  fi
}

log "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), nproc $CORES, $(date -u +%FT%TZ)"
log "work directory: $WORK"

# --- 1. openssl speed: the physical limit, with as many processes as the server gets cores --------
if have openssl; then
  log "openssl speed -multi $CORES rsa2048 rsa3072 ecdsap256"
  openssl speed -mr -multi "$CORES" -seconds 5 rsa2048 rsa3072 ecdsap256 > "$WORK/speed.txt" 2>/dev/null
  # -mr: "+F2:<i>:<bits>:<sign/s>:<verify/s>" (RSA), "+F4:<i>:<bits>:<sign/s>:<verify/s>" (ECDSA)
  record openssl_rsa2048 "$(awk -F: '$1=="+F2" && $3==2048 {print $4}' "$WORK/speed.txt")"
  record openssl_rsa3072 "$(awk -F: '$1=="+F2" && $3==3072 {print $4}' "$WORK/speed.txt")"
  record openssl_p256 "$(awk -F: '$1=="+F4" && $3==256 {print $4}' "$WORK/speed.txt")"
else
  missing openssl_rsa2048 openssl_rsa3072 openssl_p256 "openssl is not installed"
fi

# --- 2. a fresh server: sigil quickstart in a temporary data directory ---------------------------
if [[ -z "${SIGIL:-}" ]]; then
  SIGIL="$ROOT/target/release/sigil"
  if [[ "$SKIP_BUILD" == 0 ]]; then
    log "cargo build --release -p sigil"
    (cd "$ROOT" && cargo build --release -p sigil) >&2 || { echo "MISSING: cargo build --release -p sigil failed" >&2; exit 1; }
  fi
fi
[[ -x "$SIGIL" ]] || { echo "MISSING: no sigil binary at $SIGIL (build it or set SIGIL=)" >&2; exit 1; }
# The PKCS#11 module (step 7b); its rows are MISSING when it cannot be built.
PKCS11_REASON=""
if [[ -z "${PKCS11_MODULE:-}" ]]; then
  PKCS11_MODULE="$ROOT/target/release/libsigil_pkcs11.so"
  if [[ "$SKIP_BUILD" == 0 ]]; then
    log "cargo build --release -p sigil-pkcs11"
    (cd "$ROOT" && cargo build --release -p sigil-pkcs11) >&2 || PKCS11_REASON="cargo build --release -p sigil-pkcs11 failed"
  fi
fi
[[ -n "$PKCS11_REASON" || -f "$PKCS11_MODULE" ]] || PKCS11_REASON="no module at $PKCS11_MODULE (build it or set PKCS11_MODULE=)"

has_subcommand() { "$SIGIL" "$1" --help > /dev/null 2>&1; }

DATA="$WORK/sigil-data"
SERVER_OK=0
HTTPS_PORT=""
# health_ok: the HTTPS health route answers (the server is up).
health_ok() {
  curl -sf --cacert "$DATA/ca/root.pem" --resolve "localhost:$HTTPS_PORT:127.0.0.1" \
    "https://localhost:$HTTPS_PORT/api/v1/health" > /dev/null 2>&1
}
# wait_up PID: waits up to 60 s for the server process PID to answer on HTTPS.
wait_up() {
  for _ in $(seq 300); do
    kill -0 "$1" 2>/dev/null || return 1
    health_ok && return 0
    sleep 0.2
  done
  return 1
}
# Free loopback ports, so a server already running on 9100/8443 is never measured by mistake.
read -r HOST_PORT HTTPS_PORT < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

# A SoftHSM2 token in the work directory, added to sigil.toml as the HSM "bench-hsm" before the
# server starts. Sets HSM_REASON when it cannot (the HSM rows are then MISSING).
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
HSM_REASON="no sigil data directory (see above)"
setup_hsm() {
  if ! have softhsm2-util; then
    HSM_REASON="softhsm2-util is not installed (apt-get install softhsm2)"; return
  fi
  if [[ ! -f "$SOFTHSM_MODULE" ]]; then
    HSM_REASON="no PKCS#11 module at $SOFTHSM_MODULE (apt-get install softhsm2, or set SOFTHSM_MODULE=)"; return
  fi
  log "SoftHSM2 token in $WORK/softhsm, [[hsm]] bench-hsm in sigil.toml"
  mkdir -p "$WORK/softhsm/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$WORK/softhsm/tokens" > "$WORK/softhsm/softhsm2.conf"
  export SOFTHSM2_CONF="$WORK/softhsm/softhsm2.conf"   # the server inherits it
  # A throw-away token of this run: softhsm2-util only takes the PINs as arguments.
  local pin so_pin
  pin=$(python3 -c 'import secrets; print(secrets.token_hex(8))')
  so_pin=$(python3 -c 'import secrets; print(secrets.token_hex(8))')
  if ! softhsm2-util --init-token --free --label sigil-bench --pin "$pin" --so-pin "$so_pin" \
       > "$WORK/softhsm.log" 2>&1; then
    HSM_REASON="softhsm2-util --init-token failed: $(grep -m1 . "$WORK/softhsm.log")"; return
  fi
  (umask 077; printf '%s\n' "$pin" > "$DATA/bench-hsm.pin")
  cat >> "$DATA/sigil.toml" <<EOF

[[hsm]]
name = "bench-hsm"
module = "$SOFTHSM_MODULE"
token_label = "sigil-bench"
pin_file = "bench-hsm.pin"
EOF
  HSM_REASON=""
}

if ! has_subcommand init || ! has_subcommand quickstart || ! has_subcommand server; then
  echo "MISSING: 'sigil init', 'sigil quickstart' and 'sigil server' must all be subcommands of $SIGIL" >&2
else
  log "sigil init + quickstart --no-server (data: $DATA, host api :$HOST_PORT, https :$HTTPS_PORT)"
  if "$SIGIL" init --data "$DATA" --host-api "127.0.0.1:$HOST_PORT" --https "127.0.0.1:$HTTPS_PORT" \
       > "$WORK/init.log" 2>&1 \
     && "$SIGIL" quickstart --data "$DATA" --no-server > "$WORK/quickstart.log" 2>&1; then
    setup_hsm
    log "sigil server --data $DATA"
    "$SIGIL" server --data "$DATA" > "$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    if wait_up "$SERVER_PID"; then
      SERVER_OK=1
      log "server pid $SERVER_PID"
    else
      echo "MISSING: 'sigil server --data $DATA' did not come up; its log:" >&2
      sed 's/^/  | /' "$WORK/server.log" >&2
    fi
  else
    echo "MISSING: provisioning with 'sigil init' / 'sigil quickstart --no-server' failed:" >&2
    cat "$WORK/init.log" "$WORK/quickstart.log" 2>/dev/null | grep -iv "password\|export" | sed 's/^/  | /' >&2
  fi
fi
PROFILE="$DATA/clients/jenkins.toml"

# --- 3. one policy per key type, through the HTTPS admin API (dual control: admin1 + admin2) -----
api() {
  # api METHOD PATH [BODY-FILE]: prints the JSON answer, fails on an HTTP error.
  local body=()
  [[ $# -ge 3 ]] && body=(-H 'Content-Type: application/json' --data-binary "@$3")
  curl -sS --fail-with-body --cacert "$DATA/ca/root.pem" \
    --resolve "localhost:$HTTPS_PORT:127.0.0.1" -X "$1" "${body[@]}" \
    ${TOKEN:+-H "Authorization: Bearer $TOKEN"} "https://localhost:$HTTPS_PORT/api/v1$2"
}
json_field() { python3 -c 'import sys,json; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
write_json() { umask 077; python3 -c 'import sys,json; print(json.dumps(json.loads(sys.argv[1])))' "$1" > "$2"; }

# create_policies BACKEND KEY...: a code-signing certificate whose key BACKEND generates, and a
# 0-approval policy bench-KEY (software) or bench-hsm-KEY (an HSM), per key type. Every step
# has its own `|| exit 1`: `set -e` does not act inside a command tested by `if`.
create_policies() (
  umask 077
  backend=$1; shift
  for n in 1 2; do
    python3 -c 'import sys,json; print(json.dumps({"identity": sys.argv[1], "password": open(sys.argv[2]).read().strip()}))' \
      "admin$n" "$DATA/admin/admin$n.password" > "$WORK/login$n.json" || exit 1
  done
  TOKEN=""
  TOKEN=$(set -o pipefail; api POST /login "$WORK/login1.json" | json_field session) || exit 1
  api POST /login "$WORK/login2.json" > /dev/null || exit 1
  rm -f "$WORK"/login?.json
  for key in "$@"; do
    alias=bench-$key
    [[ "$backend" == software ]] || alias=bench-hsm-$key
    write_json "{\"issuer\": \"jenkins-code-signing-ca\", \"profile\": \"code-signing\", \"subject\": \"CN=Sigil Bench $key $backend,O=Sigil Bench\", \"validity_days\": 30, \"key_algorithm\": \"$key\", \"key_backend\": \"$backend\"}" "$WORK/cert.json" || exit 1
    serial=$(set -o pipefail; api POST /certificates "$WORK/cert.json" | json_field serial) || exit 1
    write_json "{\"alias\": \"$alias\", \"certificate\": \"$serial\", \"rsa_scheme\": \"pkcs1v15\", \"approvals_required\": 0, \"hashes\": [\"sha256\"], \"formats\": [\"hash\", \"authenticode\", \"jar\"], \"request_lifetime_secs\": 3600, \"roles\": [\"jenkins\"]}" "$WORK/policy.json" || exit 1
    api POST /policies "$WORK/policy.json" > /dev/null || exit 1
  done
  api POST /logout > /dev/null || true
)

POLICIES_OK=0
KEYS=(rsa-2048 rsa-3072 ec-p256)
HSM_KEYS=(rsa-2048 ec-p256)
if [[ "$SERVER_OK" == 1 ]]; then
  log "creating code-signing certificates and policies bench-{${KEYS[*]}} (0 approvals)"
  if create_policies software "${KEYS[@]}" 2> "$WORK/admin.err"; then
    POLICIES_OK=1
  else
    echo "MISSING: could not create the bench policies through the HTTPS API:" >&2
    sed 's/^/  | /' "$WORK/admin.err" >&2
  fi
  if [[ -z "$HSM_REASON" ]]; then
    log "creating HSM-held (bench-hsm) certificates and policies bench-hsm-{${HSM_KEYS[*]}} (0 approvals)"
    if ! create_policies bench-hsm "${HSM_KEYS[@]}" 2> "$WORK/admin-hsm.err"; then
      HSM_REASON="could not create the HSM bench policies: $(grep -m1 . "$WORK/admin-hsm.err")"
    fi
  fi
fi

# --- 4. sigil bench per key type ------------------------------------------------------------------
# Each HSM policy runs right after the software policy of its key type (same run, neighbouring
# minutes), so that the ratio compares like with like on a noisy machine.
BENCH_ORDER=(rsa-2048 hsm-rsa-2048 rsa-3072 ec-p256 hsm-ec-p256)
for key in "${BENCH_ORDER[@]}"; do
  k=${key//-/}
  if [[ "$SERVER_OK" == 0 ]]; then
    missing "sigil_$k" "sigil_${k}_p99" "no running server (see above)"
  elif [[ "$key" == hsm-* && -n "$HSM_REASON" ]]; then
    missing "sigil_$k" "sigil_${k}_p99" "HSM rows: $HSM_REASON"
  elif [[ "$key" != hsm-* && "$POLICIES_OK" == 0 ]]; then
    missing "sigil_$k" "sigil_${k}_p99" "no bench-$key policy (see above)"
  elif ! has_subcommand bench; then
    missing "sigil_$k" "sigil_${k}_p99" "'sigil bench' is not registered in crates/cli/src/main.rs"
  else
    log "sigil bench --policy bench-$key --connections $CONNECTIONS --pipeline $PIPELINE --duration $DURATION"
    if "$SIGIL" bench --profile "$PROFILE" --policy "bench-$key" --connections "$CONNECTIONS" \
        --pipeline "$PIPELINE" --duration "$DURATION" --server-pid "$SERVER_PID" --json \
        > "$WORK/bench-$key.json" 2> "$WORK/bench-$key.err"; then
      python3 - "$WORK/bench-$key.json" >&2 <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
cpu = r.get("server_cpu") or {}
print(f"   {r['requests_per_sec']:.0f} req/s, p50 {r['latency']['p50_us']/1000:.2f} ms, "
      f"p99 {r['latency']['p99_us']/1000:.2f} ms, errors {r['errors']}, "
      f"server {cpu.get('cores_busy', float('nan')):.2f} cores")
EOF
      errors=$(json_field errors < "$WORK/bench-$key.json")
      if [[ "$errors" != 0 ]]; then
        echo "   warning: $errors errors: $(json_field first_error < "$WORK/bench-$key.json")" >&2
      fi
      record "sigil_$k" "$(json_field requests_per_sec < "$WORK/bench-$key.json")"
      record "sigil_${k}_p99" "$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["latency"]["p99_us"]/1000)' "$WORK/bench-$key.json")"
      # Server CPU per request, and the same less a signature and its check timed in-process.
      record "sigil_${k}_cpu" "$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["server_cpu"]["cpu_us_per_request"])' "$WORK/bench-$key.json")"
      record "sigil_${k}_cpu_nosig" "$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["server_cpu"]["cpu_us_per_request_without_signature"] or "MISSING: no signature timing")' "$WORK/bench-$key.json")"
      # The load generator's own CPU per request (it shares the cores with the server).
      record "sigil_${k}_bench_cpu" "$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1])).get("client_cpu", {}).get("cpu_us_per_request", "MISSING: sigil bench reports no client_cpu"))' "$WORK/bench-$key.json")"
    else
      missing "sigil_$k" "sigil_${k}_p99" "sigil bench failed: $(grep -m1 . "$WORK/bench-$key.err")"
    fi
  fi
done

# --- 4b. server memory with idle mutual-TLS connections (after the load: a warmed-up server) ---
IDLE=${IDLE_CONNECTIONS:-1000}
if [[ "$SERVER_OK" == 0 ]]; then
  missing idle_rss idle_kib_per_conn "no running server (see above)"
elif ! "$SIGIL" bench --help 2>/dev/null | grep -q -- --idle-connections; then
  missing idle_rss idle_kib_per_conn "'sigil bench --idle-connections' is not in $SIGIL"
else
  log "sigil bench --idle-connections $IDLE --duration 5s"
  if "$SIGIL" bench --profile "$PROFILE" --idle-connections "$IDLE" --duration 5s \
      --server-pid "$SERVER_PID" --json > "$WORK/idle.json" 2> "$WORK/idle.err"; then
    record idle_rss "$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["server_memory"]["rss_idle_kib"]/1024)' "$WORK/idle.json")"
    record idle_kib_per_conn "$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["server_memory"]["kib_per_connection"])' "$WORK/idle.json")"
  else
    missing idle_rss idle_kib_per_conn "sigil bench --idle-connections failed: $(grep -m1 . "$WORK/idle.err")"
  fi
fi

# --- 5. local signing keys for the reference tools (RSA-3072, like the quickstart's release key) --
LOCAL_OK=0
if have openssl; then
  (
    umask 077
    openssl rand -hex 16 > "$WORK/local.pass"
    openssl req -x509 -newkey rsa:3072 -nodes -keyout "$WORK/local.key" -out "$WORK/local.crt" \
      -subj "/CN=Sigil Bench Local Signer" -days 30 -addext "extendedKeyUsage=codeSigning" 2>/dev/null
    openssl pkcs12 -export -name bench -inkey "$WORK/local.key" -in "$WORK/local.crt" \
      -out "$WORK/local.p12" -passout "file:$WORK/local.pass"
  ) && LOCAL_OK=1
fi

# The policy the `sigil sign` runs use: the same key type as the local key.
SIGN_POLICY=bench-rsa-3072
[[ "$POLICIES_OK" == 1 ]] || SIGN_POLICY=release
sigil_sign_ready() {
  # sigil_sign_ready KEY...: checks the server and the subcommand, else marks KEYs missing.
  if [[ "$SERVER_OK" == 0 ]]; then missing "$@" "no running server (see above)"; return 1; fi
  if ! has_subcommand sign; then missing "$@" "'sigil sign' is not a subcommand of $SIGIL"; return 1; fi
}

# --- 5b. the fixed cost of one `sigil sign` run (process start, PKCS#12, TLS, login, 1 request) -
if sigil_sign_ready sigil_fixed sigil_fixed_password; then
  echo "tiny" > "$WORK/tiny.txt"
  sign_tiny() {
    rm -f "$WORK/tiny.sig"
    "$SIGIL" sign --profile "$PROFILE" --policy "$SIGN_POLICY" --format hash -o "$WORK/tiny.sig" "$WORK/tiny.txt"
  }
  # Median of 11; the reference is the same binary doing nothing (`sigil --version`), so the
  # difference is what a sign itself costs (profile, PKCS#12, TLS, login, one request). The
  # quickstart's CI profile logs in with an API key; the second row logs in with the identity's
  # password instead (SIGIL_PASSWORD wins over the profile's file), whose argon2id check is slow
  # by design.
  if t=$(median_of 11 sign_tiny); then record sigil_fixed "$t"; else missing sigil_fixed "sigil sign failed: $(tail -1 "$WORK/cmd.err")"; fi
  sign_tiny_password() { SIGIL_PASSWORD=$(cat "$DATA/clients/jenkins.password") sign_tiny; }
  if t=$(median_of 11 sign_tiny_password); then record sigil_fixed_password "$t"; else missing sigil_fixed_password "sigil sign with the password failed: $(tail -1 "$WORK/cmd.err")"; fi
  if t=$(median_of 11 "$SIGIL" --version); then record sigil_start "$t"; else missing sigil_start "sigil --version failed"; fi
fi

# --- 6. a 200 MB PE: sigil sign vs osslsigncode vs openssl dgst ----------------------------------
PE="$WORK/big.exe"
if have x86_64-w64-mingw32-gcc; then
  log "building a 200 MB PE with x86_64-w64-mingw32-gcc"
  cat > "$WORK/big.c" <<'EOF'
static const unsigned char payload[200u << 20] = {1, 2, 3, 4, 5, 6, 7, 8};
int main(int argc, char **argv) { (void)argv; return payload[argc * 4096]; }
EOF
  x86_64-w64-mingw32-gcc -O1 -s -o "$PE" "$WORK/big.c"
  log "PE size $(stat -c %s "$PE") bytes"
  cat "$PE" > /dev/null   # warm the page cache for every contender alike
  timed dgst_pe 3 openssl dgst -sha256 "$PE"
  if [[ "$LOCAL_OK" == 1 ]] && have osslsigncode; then
    osslsign() {
      rm -f "$WORK/big-osslsigncode.exe"   # osslsigncode refuses to overwrite its output
      osslsigncode sign -pkcs12 "$WORK/local.p12" -readpass "$WORK/local.pass" \
        -h sha256 -in "$PE" -out "$WORK/big-osslsigncode.exe"
    }
    timed osslsigncode_pe 3 osslsign
    rm -f "$WORK/big-osslsigncode.exe"
  else
    missing osslsigncode_pe "osslsigncode (or the local PKCS#12 key) is not available"
  fi
  if sigil_sign_ready sigil_pe; then
    # Like osslsigncode -in/-out: read the PE, write the signed copy.
    sign_pe() {
      rm -f "$WORK/big-sigil.exe"
      "$SIGIL" sign --profile "$PROFILE" --policy "$SIGN_POLICY" --format authenticode \
        -o "$WORK/big-sigil.exe" "$PE"
    }
    if t=$(best_of 3 sign_pe); then
      record sigil_pe "$t"
    else
      missing sigil_pe "sigil sign --format authenticode failed: $(tail -2 "$WORK/cmd.err" | tr '\n' ' ')"
    fi
  fi
else
  missing dgst_pe osslsigncode_pe sigil_pe "x86_64-w64-mingw32-gcc is not installed (apt-get install gcc-mingw-w64-x86-64)"
fi

# Times, on FILE (a member of the Authenticode family), `openssl dgst -sha256`, `osslsigncode sign`
# with the local key and `sigil sign --format authenticode` (subject detected by content), each best
# of 3 with the page cache warm, as rows dgst_KIND, osslsigncode_KIND and sigil_KIND; deletes FILE.
authenticode_rows() {
  local kind="$1" file="$2" what="$3"
  cat "$file" > /dev/null   # warm the page cache for every contender alike
  timed "dgst_$kind" 3 openssl dgst -sha256 "$file"
  if [[ "$LOCAL_OK" == 1 ]] && have osslsigncode; then
    osslsign_file() {
      rm -f "$WORK/big-osslsigncode.$kind"
      osslsigncode sign -pkcs12 "$WORK/local.p12" -readpass "$WORK/local.pass" \
        -h sha256 -in "$file" -out "$WORK/big-osslsigncode.$kind"
    }
    timed "osslsigncode_$kind" 3 osslsign_file
    rm -f "$WORK/big-osslsigncode.$kind"
  else
    missing "osslsigncode_$kind" "osslsigncode (or the local PKCS#12 key) is not available"
  fi
  if sigil_sign_ready "sigil_$kind"; then
    # Like osslsigncode -in/-out: read the file, write the signed copy.
    sigil_sign_file() {
      rm -f "$WORK/big-sigil.$kind"
      "$SIGIL" sign --profile "$PROFILE" --policy "$SIGN_POLICY" --format authenticode \
        -o "$WORK/big-sigil.$kind" "$file"
    }
    if t=$(best_of 3 sigil_sign_file); then
      record "sigil_$kind" "$t"
    else
      missing "sigil_$kind" "sigil sign of $what failed: $(tail -2 "$WORK/cmd.err" | tr '\n' ' ')"
    fi
  fi
  rm -f "$file" "$WORK/big-sigil.$kind"
}

# --- 6b. a 100 MB MSI: sigil sign vs osslsigncode vs openssl dgst ---------------------------------
# A wixl package whose embedded cabinet holds a 100 MB file of random bytes (so the cabinet
# stays 100 MB): the digest reads every stream of the compound file.
MSI="$WORK/big.msi"
if have wixl; then
  log "building a 100 MB MSI with wixl"
  mkdir -p "$WORK/msi-src"
  head -c 100000000 /dev/urandom > "$WORK/msi-src/payload.bin"
  cat > "$WORK/msi-src/app.wxs" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="Sigil Bench" Language="1033" Version="1.0.0" Manufacturer="Sigil"
           UpgradeCode="7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f">
    <Package InstallerVersion="200" Compressed="yes" />
    <Media Id="1" Cabinet="bench.cab" EmbedCab="yes" />
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="SigilBench">
          <Component Id="Payload" Guid="7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e60">
            <File Id="PayloadFile" Source="payload.bin" KeyPath="yes" />
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="Payload" /></Feature>
  </Product>
</Wix>
EOF
  (cd "$WORK/msi-src" && wixl -o "$MSI" app.wxs) && rm -rf "$WORK/msi-src"
  log "MSI size $(stat -c %s "$MSI") bytes"
  authenticode_rows msi "$MSI" "an MSI"
else
  missing dgst_msi osslsigncode_msi sigil_msi "wixl is not installed (apt-get install wixl)"
fi

# --- 6c. a 100 MB cabinet: sigil sign vs osslsigncode vs openssl dgst ---------------------------
CAB="$WORK/big.cab"
if have gcab; then
  log "building a 100 MB cabinet with gcab (stored, incompressible data)"
  mkdir -p "$WORK/cab-tree"
  head -c $((100 << 20)) /dev/urandom > "$WORK/cab-tree/payload.bin"
  (cd "$WORK/cab-tree" && gcab --create --nopath "$CAB" payload.bin)
  rm -f "$WORK/cab-tree/payload.bin"
  log "CAB size $(stat -c %s "$CAB") bytes"
  authenticode_rows cab "$CAB" "a cabinet"
else
  missing dgst_cab osslsigncode_cab sigil_cab "gcab is not installed (apt-get install gcab)"
fi

# --- 7. a 5,000-entry JAR: sigil sign vs jarsigner ------------------------------------------------
JAR="$WORK/app.jar"
if have zip; then
  log "building a 5,000-entry JAR with zip"
  python3 - "$WORK/jar-tree" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random(7)
for i in range(5000):
    d = os.path.join(root, "com/example/app/p%03d" % (i // 50))
    os.makedirs(d, exist_ok=True)
    n = 512 + (i * 977) % 3584
    body = bytes(b if j % 2 else rng.randrange(256) for j, b in zip(range(n), b"abcdefghijklmnop" * (n // 16 + 1)))
    with open(os.path.join(d, "Class%d.class" % i), "wb") as f:
        f.write(body)
EOF
  (cd "$WORK/jar-tree" && zip -q -r -X "$JAR" com)
  if [[ "$LOCAL_OK" == 1 ]] && have jarsigner; then
    jarsign() { jarsigner -keystore "$WORK/local.p12" -storetype PKCS12 -storepass:file "$WORK/local.pass" \
      -digestalg SHA-256 -sigalg SHA256withRSA -signedjar "$WORK/app-jarsigner.jar" "$JAR" bench; }
    timed jarsigner_jar 3 jarsign
  else
    missing jarsigner_jar "jarsigner (JDK) or the local PKCS#12 key is not available"
  fi
  if sigil_sign_ready sigil_jar; then
    # Like jarsigner -signedjar: read the JAR, write the signed copy.
    sign_jar() {
      rm -f "$WORK/app-sigil.jar"
      "$SIGIL" sign --profile "$PROFILE" --policy "$SIGN_POLICY" --format jar \
        -o "$WORK/app-sigil.jar" "$JAR"
    }
    if t=$(best_of 3 sign_jar); then
      record sigil_jar "$t"
    else
      missing sigil_jar "sigil sign --format jar failed: $(tail -2 "$WORK/cmd.err" | tr '\n' ' ')"
    fi
  fi
else
  missing jarsigner_jar sigil_jar "zip is not installed"
fi

# --- 7b. the PKCS#11 module: jarsigner (SunPKCS11) on the same JAR, and one C_Sign round trip ------
PIN_FILE="$DATA/clients/jenkins.password"
pkcs11_ready() {
  # pkcs11_ready KEY...: the server, the module and the JDK/python, else marks KEYs missing.
  if [[ "$SERVER_OK" == 0 ]]; then missing "$@" "no running server (see above)"; return 1; fi
  if [[ -n "$PKCS11_REASON" ]]; then missing "$@" "$PKCS11_REASON"; return 1; fi
}
if pkcs11_ready pkcs11_jar && have jarsigner && [[ -f "$JAR" ]]; then
  printf 'name = SigilBench\nlibrary = %s\nslot = 0\n' "$PKCS11_MODULE" > "$WORK/pkcs11.cfg"
  # The whole tool run, like the jarsigner and sigil rows: JVM start, C_Initialize, login (PKCS#12,
  # TLS, RKLO, RAFA/RAGA), hashing 5,000 entries in Java, one C_Sign, writing the JAR.
  jarsign_p11() {
    SIGIL_PKCS11_PROFILE="$PROFILE" jarsigner -keystore NONE -storetype PKCS11 \
      -providerClass sun.security.pkcs11.SunPKCS11 -providerArg "$WORK/pkcs11.cfg" \
      -storepass:file "$PIN_FILE" -digestalg SHA-256 -sigalg SHA256withRSA \
      -signedjar "$WORK/app-pkcs11.jar" "$JAR" "$SIGN_POLICY"
  }
  timed pkcs11_jar 3 jarsign_p11
elif [[ -z "$PKCS11_REASON" && "$SERVER_OK" == 1 ]]; then
  missing pkcs11_jar "jarsigner (JDK) or the JAR is not available"
fi
# Its comparison: sigil bench with one connection and one request in flight (no queueing), the
# same policy, so that both are the latency of one request on an otherwise idle server.
if [[ "$SERVER_OK" == 1 ]] && has_subcommand bench; then
  log "sigil bench --policy $SIGN_POLICY --connections 1 --pipeline 1 --duration $DURATION"
  if "$SIGIL" bench --profile "$PROFILE" --policy "$SIGN_POLICY" --connections 1 --pipeline 1 \
      --duration "$DURATION" --json > "$WORK/bench-single.json" 2> "$WORK/bench-single.err"; then
    record sigil_single_p50 "$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["latency"]["p50_us"]/1000)' "$WORK/bench-single.json")"
  else
    missing sigil_single_p50 "sigil bench --connections 1 failed: $(grep -m1 . "$WORK/bench-single.err")"
  fi
else
  missing sigil_single_p50 "no running server or no 'sigil bench'"
fi
if pkcs11_ready pkcs11_csign pkcs11_csign_p99; then
  log "200 C_Sign round trips through the module (policy $SIGN_POLICY)"
  if out=$(SIGIL_PKCS11_PROFILE="$PROFILE" python3 "$ROOT/bench/pkcs11_sign.py" "$PKCS11_MODULE" \
      "$PIN_FILE" "$SIGN_POLICY" 200 2> "$WORK/csign.err"); then
    record pkcs11_csign "${out% *}"
    record pkcs11_csign_p99 "${out#* }"
  else
    missing pkcs11_csign pkcs11_csign_p99 "bench/pkcs11_sign.py failed: $(grep -m1 . "$WORK/csign.err")"
  fi
fi

# --- 8. the table -----------------------------------------------------------------------------------
python3 - "$RESULTS" "$CORES" "$CONNECTIONS" "$PIPELINE" "$DURATION" "$IDLE" <<'EOF'
import sys
results, cores, conns, pipeline, duration, idle = sys.argv[1:7]
r = {}
for line in open(results):
    k, _, v = line.rstrip("\n").partition("\t")
    r[k] = v

def num(k):
    try:
        return float(r[k])
    except (KeyError, ValueError):
        return None

def show(k, fmt):
    v = num(k)
    return fmt.format(v) if v is not None else "n/a"

rows = []
def row(what, sigil_k, ref_label, ref_k, ratio, target, fmt="{:.0f}"):
    s, ref = num(sigil_k), num(ref_k)
    rat = ratio(s, ref) if s is not None and ref is not None and ref > 0 and s > 0 else None
    rows.append((what, show(sigil_k, fmt), ref_label, show(ref_k, fmt),
                 f"{rat:.2f}" if rat is not None else "n/a", target))

row("RSA-2048 hash signing, req/s", "sigil_rsa2048", f"openssl speed -multi {cores}", "openssl_rsa2048", lambda s, o: s / o, ">= 0.7")
row("RSA-3072 hash signing, req/s", "sigil_rsa3072", f"openssl speed -multi {cores}", "openssl_rsa3072", lambda s, o: s / o, ">= 1.3")
row("ECDSA P-256 hash signing, req/s", "sigil_ecp256", f"openssl speed -multi {cores}", "openssl_p256", lambda s, o: s / o, ">= 20000 req/s")
row("HSM (SoftHSM2) RSA-2048 / software, req/s", "sigil_hsmrsa2048", "software RSA-2048 (same run)", "sigil_rsa2048", lambda s, o: s / o, ">= 0.8")
row("HSM P-256 / software, req/s", "sigil_hsmecp256", "software P-256 (same run)", "sigil_ecp256", lambda s, o: s / o, ">= 0.8")
row("Authenticode 200 MB PE, s", "sigil_pe", "openssl dgst -sha256", "dgst_pe", lambda s, o: s / o, "<= 1.3", "{:.3f}")
row("Authenticode 200 MB PE, s", "sigil_pe", "osslsigncode sign (local key)", "osslsigncode_pe", lambda s, o: o / s, "> 1 (x faster)", "{:.3f}")
row("Authenticode 100 MB MSI, s", "sigil_msi", "openssl dgst -sha256", "dgst_msi", lambda s, o: s / o, "", "{:.3f}")
row("Authenticode 100 MB MSI, s", "sigil_msi", "osslsigncode sign (local key)", "osslsigncode_msi", lambda s, o: o / s, "> 1 (x faster)", "{:.3f}")
row("Authenticode 100 MB CAB, s", "sigil_cab", "openssl dgst -sha256", "dgst_cab", lambda s, o: s / o, "", "{:.3f}")
row("Authenticode 100 MB CAB, s", "sigil_cab", "osslsigncode sign (local key)", "osslsigncode_cab", lambda s, o: o / s, "> 1 (x faster)", "{:.3f}")
row("JAR 5,000 entries, s", "sigil_jar", "jarsigner (local key)", "jarsigner_jar", lambda s, o: o / s, ">= 3 (x faster)", "{:.3f}")
row("JAR 5,000 entries: jarsigner via libsigil_pkcs11.so, s", "pkcs11_jar", "sigil sign --format jar", "sigil_jar", lambda s, o: s / o, "", "{:.3f}")
row("one C_Sign round trip (median), ms", "pkcs11_csign", "sigil bench p50, 1 conn x 1", "sigil_single_p50", lambda s, o: s / o, "", "{:.2f}")

print()
print(f"Sigil benchmark: nproc {cores}, sigil bench {conns} connections x {pipeline} in flight, {duration}")
head = ("measure", "sigil", "reference", "ref value", "ratio", "target")
widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(6)]
line = lambda cols: "  ".join(str(c).ljust(w) for c, w in zip(cols, widths))
print(line(head))
print(line(["-" * w for w in widths]))
for x in rows:
    print(line(x))
print(f"fixed cost of one 'sigil sign' run (5-byte file, hash format, median of 11): {show('sigil_fixed', '{:.4f}')} s with the CI profile's API key, "
      f"{show('sigil_fixed_password', '{:.4f}')} s with the identity's password (argon2id); "
      f"'sigil --version' (process start, reference): {show('sigil_start', '{:.4f}')} s (target: sign <= 0.030 s)")
p99 = [f"{k}: {show('sigil_' + k.replace('-', '') + '_p99', '{:.2f}')} ms" for k in ("rsa-2048", "rsa-3072", "ec-p256", "hsm-rsa-2048", "hsm-ec-p256")]
print("p99 latency  " + ", ".join(p99))
cpu = [f"{k}: {show('sigil_' + k.replace('-', '') + '_cpu', '{:.0f}')} us "
       f"({show('sigil_' + k.replace('-', '') + '_cpu_nosig', '{:.0f}')} us without the signature and its check)"
       for k in ("rsa-2048", "rsa-3072", "ec-p256")]
print("server CPU per request  " + ", ".join(cpu) + "; target without the signature <= 40 us")
print("sigil bench's own CPU per request  " + ", ".join(
    f"{k}: {show('sigil_' + k.replace('-', '') + '_bench_cpu', '{:.0f}')} us" for k in ("rsa-2048", "rsa-3072", "ec-p256")))
print(f"C_Sign through libsigil_pkcs11.so, one at a time: median {show('pkcs11_csign', '{:.2f}')} ms, "
      f"p99 {show('pkcs11_csign_p99', '{:.2f}')} ms")
print(f"server RSS with {idle} idle mutual-TLS connections: {show('idle_rss', '{:.1f}')} MiB "
      f"({show('idle_kib_per_conn', '{:.1f}')} KiB per connection; target <= 100 MB = 95.4 MiB)")
gaps = sorted({v for v in r.values() if v.startswith("MISSING")})
for g in gaps:
    print(g)
EOF
# --- 9. several nodes (bench/nodes.sh), on request --------------------------------------------------
if [[ "$NODES" == 1 ]]; then
  if [[ "$SERVER_PID" != "" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  SIGIL="$SIGIL" "$ROOT/bench/nodes.sh" --duration "$DURATION" --connections "$CONNECTIONS" \
    --pipeline "$PIPELINE" --skip-build || MISSING=1
fi
exit "$MISSING"
