#!/usr/bin/env bash
# Sigil nodes benchmark (issue 16), in one run on one machine: `sigil bench` through HAProxy
# against one node and against two nodes on one PostgreSQL, and PostgreSQL against SQLite on one
# node (each node measured directly, without HAProxy). Prints one table of ratios; every number in
# it was measured by this run. `bench/run.sh --nodes` runs it after its own table.
#
#   bench/nodes.sh [--duration 10s] [--connections N] [--pipeline K] [--skip-build]
#
# Environment: SIGIL=/path/to/sigil (default: cargo build --release -p sigil, then
# target/release/sigil), KEEP=1 keeps the work directory. Needs PostgreSQL's initdb and pg_ctl
# (Debian's postgresql; a throw-away cluster on a free loopback port, like scripts/test.sh),
# psql, haproxy (Debian's haproxy), curl and python3. As root, PostgreSQL runs as the user
# postgres (created when missing, as scripts/test.sh does).
#
# A part that cannot run prints "MISSING: ..." with what is missing, is shown as such in the
# table, and makes the script exit with status 1. No number is ever filled in for it.
set -euo pipefail

DURATION=10s
CONNECTIONS=""
PIPELINE=8
SKIP_BUILD=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --pipeline) PIPELINE="$2"; shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORES=$(nproc)
CONNECTIONS=${CONNECTIONS:-$((CORES * 4))}
WORK=$(mktemp -d /tmp/sigil-bench-nodes.XXXXXX)
RESULTS="$WORK/results.tsv"   # key <TAB> value, or key <TAB> MISSING: reason
: > "$RESULTS"
PIDS=()          # servers and haproxy started by this script
PG_CTL=()        # the command that stops the throw-away PostgreSQL, once started
PG_DIR=""
MISSING=0

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  if [[ ${#PG_CTL[@]} -gt 0 ]]; then "${PG_CTL[@]}" -m immediate stop > /dev/null 2>&1 || true; fi
  [[ -z "$PG_DIR" ]] || rm -rf "$PG_DIR"
  if [[ "${KEEP:-0}" == 1 ]]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

log() { printf '== %s\n' "$*" >&2; }
record() { printf '%s\t%s\n' "$1" "$2" >> "$RESULTS"; }
missing() {
  local reason="${*: -1}"
  printf 'MISSING: %s\n' "$reason" >&2
  for key in "${@:1:$#-1}"; do record "$key" "MISSING: $reason"; done
  MISSING=1
}
have() { command -v "$1" > /dev/null 2>&1; }
free_ports() {
  python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])' "$1"
}
ALL_KEYS=(sqlite_1 pg_1 pg_1_nosync lb_1 lb_2)
# fail_all REASON: nothing can be measured.
fail_all() { missing "${ALL_KEYS[@]}" "$1"; }

log "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), nproc $CORES, $(date -u +%FT%TZ)"
log "work directory: $WORK"

# --- 1. what is needed ---------------------------------------------------------------------------
if [[ -z "${SIGIL:-}" ]]; then
  SIGIL="$ROOT/target/release/sigil"
  if [[ "$SKIP_BUILD" == 0 ]]; then
    log "cargo build --release -p sigil"
    (cd "$ROOT" && cargo build --release -p sigil) >&2 || { echo "MISSING: cargo build --release -p sigil failed" >&2; exit 1; }
  fi
fi
[[ -x "$SIGIL" ]] || { echo "MISSING: no sigil binary at $SIGIL (build it or set SIGIL=)" >&2; exit 1; }
PG_BIN=""
for dir in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")" /usr/lib/postgresql/*/bin; do
  if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then PG_BIN="$dir"; break; fi
done
NEEDS=""
[[ -n "$PG_BIN" ]] || NEEDS+=" postgresql (initdb, pg_ctl)"
have psql || NEEDS+=" postgresql-client (psql)"
have haproxy || NEEDS+=" haproxy"
have curl || NEEDS+=" curl"

run() {
  if [[ -n "$NEEDS" ]]; then
    fail_all "not installed:$NEEDS (apt-get install postgresql haproxy curl)"; return
  fi

  # --- 2. a throw-away PostgreSQL on a free loopback port (as scripts/test.sh starts it) ---------
  local as_pg=() pg_port
  PG_DIR=$(mktemp -d /tmp/sigil-bench-pg.XXXXXX)
  local pg_dir=$PG_DIR
  read -r pg_port < <(free_ports 1)
  if [[ "$(id -u)" -eq 0 ]]; then
    # PostgreSQL refuses to run as root.
    id postgres > /dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    chown postgres "$pg_dir"
    as_pg=(runuser -u postgres --)
  fi
  log "PostgreSQL on 127.0.0.1:$pg_port"
  if ! "${as_pg[@]}" "$PG_BIN/initdb" -D "$pg_dir/data" -U postgres -A trust --no-sync > "$WORK/initdb.log" 2>&1; then
    fail_all "initdb failed: $(tail -1 "$WORK/initdb.log")"; return
  fi
  PG_CTL=("${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$pg_dir/data")
  # fsync stays on: the nodes acknowledge a request only once PostgreSQL committed it.
  if ! "${PG_CTL[@]}" -l "$pg_dir/log" -w -o "-h 127.0.0.1 -p $pg_port -k $pg_dir" start > /dev/null 2>&1; then
    fail_all "pg_ctl start failed: $(tail -1 "$pg_dir/log" 2>/dev/null)"; return
  fi
  local pg="postgres://postgres@127.0.0.1:$pg_port"
  psql "$pg/postgres" -q -c "CREATE DATABASE sigil_bench" > /dev/null || { fail_all "CREATE DATABASE failed"; return; }

  # --- 3. nodes: A (creates the PostgreSQL deployment), B (joins it), S (SQLite, alone) -----------
  local a="$WORK/node-a" b="$WORK/node-b" s="$WORK/node-s" ports
  read -r -a ports < <(free_ports 8)
  local a_host=${ports[0]} a_https=${ports[1]} b_host=${ports[2]} b_https=${ports[3]}
  local s_host=${ports[4]} s_https=${ports[5]} lb_host=${ports[6]} lb_https=${ports[7]}
  log "sigil init --database (node A), quickstart --no-server, init --join (node B); SQLite node S"
  if ! { "$SIGIL" init --data "$a" --database "$pg/sigil_bench" \
           --host-api "127.0.0.1:$a_host" --https "127.0.0.1:$a_https" \
         && "$SIGIL" quickstart --data "$a" --no-server \
         && "$SIGIL" init --join --data "$b" --database "$pg/sigil_bench" \
           --master-key-file "$a/master.key" --host-api "127.0.0.1:$b_host" --https "127.0.0.1:$b_https" \
         && "$SIGIL" init --data "$s" --host-api "127.0.0.1:$s_host" --https "127.0.0.1:$s_https" \
         && "$SIGIL" quickstart --data "$s" --no-server; } > "$WORK/provision.log" 2>&1; then
    fail_all "provisioning failed: $(grep -iv 'password\|SKC1' "$WORK/provision.log" | tail -1)"; return
  fi
  local node pid
  for node in "$a:$a_https" "$b:$b_https" "$s:$s_https"; do
    "$SIGIL" server --data "${node%%:*}" > "${node%%:*}.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    if ! wait_https "$pid" "${node%%:*}" "${node##*:}"; then
      fail_all "sigil server --data ${node%%:*} did not come up: $(tail -1 "${node%%:*}.log")"; return
    fi
  done

  # --- 4. an EC P-256 policy with 0 approvals in each deployment, so that the key operation is
  #        cheap and what the storage and the balancer cost shows --------------------------------
  log "policy bench-ec-p256 (0 approvals) in both deployments"
  if ! create_policy "$a" "$a_https" 2> "$WORK/policy-a.err" || ! create_policy "$s" "$s_https" 2> "$WORK/policy-s.err"; then
    fail_all "could not create the bench policies: $(cat "$WORK"/policy-?.err | grep -m1 .)"; return
  fi

  # --- 5. the points -----------------------------------------------------------------------------
  bench_point sqlite_1 "$s/clients/jenkins.toml" "SQLite, node S directly"
  bench_point pg_1 "$a/clients/jenkins.toml" "PostgreSQL, node A directly"
  # Diagnostic only (an acknowledged request could be lost if PostgreSQL's host crashed): how
  # much of the PostgreSQL figure is waiting for the WAL flush of each commit.
  if pg_sync "$pg" off; then
    bench_point pg_1_nosync "$a/clients/jenkins.toml" "PostgreSQL with synchronous_commit=off, node A directly"
    pg_sync "$pg" on || { fail_all "could not set synchronous_commit back on"; return; }
  else
    missing pg_1_nosync "ALTER SYSTEM SET synchronous_commit failed"
  fi
  # The profile's paths are relative to it: the balancer's copy stays beside the original.
  local lb_profile="$a/clients/jenkins-lb.toml"
  sed -e "s/^host_api = .*/host_api = \"127.0.0.1:$lb_host\"/" \
      -e "s|^https = .*|https = \"https://127.0.0.1:$lb_https\"|" "$a/clients/jenkins.toml" > "$lb_profile"
  local n
  for n in 1 2; do
    local servers="  server a 127.0.0.1:$a_host check inter 1s"$'\n'
    local https_servers="  server a 127.0.0.1:$a_https check inter 1s"$'\n'
    if [[ "$n" == 2 ]]; then
      servers+="  server b 127.0.0.1:$b_host check inter 1s"$'\n'
      https_servers+="  server b 127.0.0.1:$b_https check inter 1s"$'\n'
    fi
    # TCP mode, as docs/nodes.md: mutual TLS ends at the nodes.
    cat > "$WORK/haproxy-$n.cfg" <<EOF
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 2s
  timeout client 120s
  timeout server 120s
frontend host_api
  bind 127.0.0.1:$lb_host
  default_backend host_api_nodes
backend host_api_nodes
  balance roundrobin
$servers
frontend https
  bind 127.0.0.1:$lb_https
  default_backend https_nodes
backend https_nodes
  balance roundrobin
$https_servers
EOF
    haproxy -db -f "$WORK/haproxy-$n.cfg" > "$WORK/haproxy-$n.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    if ! wait_https "$pid" "$a" "$lb_https"; then
      missing "lb_$n" "haproxy did not come up: $(tail -1 "$WORK/haproxy-$n.log")"
      continue
    fi
    bench_point "lb_$n" "$lb_profile" "HAProxy, $n node(s) on PostgreSQL"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

# pg_sync URL on|off: PostgreSQL's synchronous_commit for the whole cluster, reloaded.
pg_sync() {
  psql "$1/postgres" -q -c "ALTER SYSTEM SET synchronous_commit = $2" -c "SELECT pg_reload_conf()" > /dev/null
}

# wait_https PID DATA PORT: waits up to 60 s for the HTTPS health route on PORT (the certificate
# checked against DATA/ca/root.pem), while PID lives.
wait_https() {
  for _ in $(seq 300); do
    kill -0 "$1" 2>/dev/null || return 1
    curl -sf --cacert "$2/ca/root.pem" --resolve "localhost:$3:127.0.0.1" \
      "https://localhost:$3/api/v1/health" > /dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# create_policy DATA PORT: a code-signing certificate with an EC P-256 key and the 0-approval
# policy bench-ec-p256 for the role jenkins, through the HTTPS admin API (dual control: admin1
# and admin2 log in on one session).
create_policy() (
  umask 077
  local data=$1 port=$2 token="" n serial
  api() {
    local body=()
    [[ $# -ge 3 ]] && body=(-H 'Content-Type: application/json' --data-binary "@$3")
    curl -sS --fail-with-body --cacert "$data/ca/root.pem" --resolve "localhost:$port:127.0.0.1" \
      -X "$1" "${body[@]}" ${token:+-H "Authorization: Bearer $token"} "https://localhost:$port/api/v1$2"
  }
  field() { python3 -c 'import sys,json; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
  for n in 1 2; do
    python3 -c 'import sys,json; print(json.dumps({"identity": sys.argv[1], "password": open(sys.argv[2]).read().strip()}))' \
      "admin$n" "$data/admin/admin$n.password" > "$WORK/login$n.json" || exit 1
  done
  token=$(set -o pipefail; api POST /login "$WORK/login1.json" | field session) || exit 1
  api POST /login "$WORK/login2.json" > /dev/null || exit 1
  rm -f "$WORK"/login?.json
  printf '%s' '{"issuer": "jenkins-code-signing-ca", "profile": "code-signing", "subject": "CN=Sigil Bench Nodes,O=Sigil Bench", "validity_days": 30, "key_algorithm": "ec-p256", "key_backend": "software"}' > "$WORK/cert.json"
  serial=$(set -o pipefail; api POST /certificates "$WORK/cert.json" | field serial) || exit 1
  printf '{"alias": "bench-ec-p256", "certificate": "%s", "rsa_scheme": "pkcs1v15", "approvals_required": 0, "hashes": ["sha256"], "formats": ["hash"], "request_lifetime_secs": 3600, "roles": ["jenkins"]}' \
    "$serial" > "$WORK/policy.json"
  api POST /policies "$WORK/policy.json" > /dev/null || exit 1
  api POST /logout > /dev/null || true
)

# bench_point KEY PROFILE LABEL: sigil bench through PROFILE, recording req/s and p99.
bench_point() {
  local key=$1 profile=$2 label=$3
  log "$label: sigil bench --policy bench-ec-p256 --connections $CONNECTIONS --pipeline $PIPELINE --duration $DURATION"
  if "$SIGIL" bench --profile "$profile" --policy bench-ec-p256 --connections "$CONNECTIONS" \
      --pipeline "$PIPELINE" --duration "$DURATION" --json > "$WORK/$key.json" 2> "$WORK/$key.err"; then
    python3 - "$WORK/$key.json" "$RESULTS" "$key" >&2 <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"   {r['requests_per_sec']:.0f} req/s, p50 {r['latency']['p50_us']/1000:.2f} ms, "
      f"p99 {r['latency']['p99_us']/1000:.2f} ms, errors {r['errors']}"
      + (f" (first: {r['first_error']})" if r["errors"] else ""))
with open(sys.argv[2], "a") as out:
    out.write(f"{sys.argv[3]}\t{r['requests_per_sec']}\n")
    out.write(f"{sys.argv[3]}_p99\t{r['latency']['p99_us'] / 1000}\n")
    out.write(f"{sys.argv[3]}_errors\t{r['errors']}\n")
EOF
  else
    missing "$key" "sigil bench ($label) failed: $(grep -m1 . "$WORK/$key.err")"
  fi
}

run

# --- 6. the table ------------------------------------------------------------------------------
python3 - "$RESULTS" "$CORES" "$CONNECTIONS" "$PIPELINE" "$DURATION" <<'EOF'
import sys
results, cores, conns, pipeline, duration = sys.argv[1:6]
r = {}
for line in open(results):
    k, _, v = line.rstrip("\n").partition("\t")
    r[k] = v

def num(k):
    try:
        return float(r[k])
    except (KeyError, ValueError):
        return None

def show(k, fmt="{:.0f}"):
    v = num(k)
    return fmt.format(v) if v is not None else "n/a"

rows = []
def row(what, k, ref_label, ref_k):
    s, ref = num(k), num(ref_k)
    ratio = f"{s / ref:.2f}" if s and ref else "n/a"
    rows.append((what, show(k), ref_label, show(ref_k), ratio))

row("HAProxy -> 2 nodes on PostgreSQL, req/s", "lb_2", "HAProxy -> 1 node", "lb_1")
row("1 node on PostgreSQL, direct, req/s", "pg_1", "1 node on SQLite, direct", "sqlite_1")
row("HAProxy -> 1 node, req/s", "lb_1", "the same node, direct", "pg_1")
row("1 node, PostgreSQL synchronous_commit=off (diagnostic), req/s", "pg_1_nosync", "synchronous_commit=on", "pg_1")

print()
print(f"Sigil nodes benchmark: nproc {cores}, sigil bench {conns} connections x {pipeline} in flight, "
      f"{duration} per point, policy bench-ec-p256 (EC P-256, 0 approvals)")
head = ("measure", "sigil", "reference", "ref value", "ratio")
widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(5)]
line = lambda cols: "  ".join(str(c).ljust(w) for c, w in zip(cols, widths))
print(line(head))
print(line(["-" * w for w in widths]))
for x in rows:
    print(line(x))
print("p99 latency  " + ", ".join(
    f"{k}: {show(k + '_p99', '{:.2f}')} ms" for k in ("sqlite_1", "pg_1", "pg_1_nosync", "lb_1", "lb_2")))
errors = [f"{k}: {show(k + '_errors')}" for k in ("sqlite_1", "pg_1", "pg_1_nosync", "lb_1", "lb_2")]
print("errors       " + ", ".join(errors))
for g in sorted({v for v in r.values() if v.startswith("MISSING")}):
    print(g)
EOF
exit "$MISSING"
