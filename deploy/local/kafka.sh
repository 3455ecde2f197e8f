#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, combined broker+controller) for tests and development.
#
# The broker jars come from Maven Central via deploy/local/pom.xml and live in an ignored cache
# (never committed). Run `kafka.sh --help` for the subcommands and environment variables.
set -euo pipefail

readonly DEFAULT_KAFKA_VERSION=4.4.0 # the newest 4.x; 3.9.x is the other supported line
KAFKA_VERSION=${KAFKA_VERSION:-$DEFAULT_KAFKA_VERSION}
readonly STARTED_MESSAGE="Kafka Server started" # logged by KafkaRaftServer once it serves clients

# Kafka 3 logs through log4j 1 (reload4j), Kafka 4 through log4j2: the Maven profile that fetches
# the backend, and the config format kafka.sh writes for it.
if [[ $KAFKA_VERSION =~ ^3\.[0-9]+\.[0-9]+$ ]]; then
  LOGGING=log4j MAVEN_PROFILE=kafka3
elif [[ $KAFKA_VERSION =~ ^4\.[0-9]+\.[0-9]+$ ]]; then
  LOGGING=log4j2 MAVEN_PROFILE=kafka4
else
  printf 'kafka.sh: error: KAFKA_VERSION must be a 3.x or 4.x release such as %s, got %s\n' \
    "$DEFAULT_KAFKA_VERSION" "'$KAFKA_VERSION'" >&2
  exit 1
fi
readonly KAFKA_VERSION LOGGING MAVEN_PROFILE

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)
CACHE_DIR=${WIRE_INGEST_CACHE:-$REPO_ROOT/.cache}
[[ $CACHE_DIR == /* ]] || CACHE_DIR=$PWD/$CACHE_DIR # the JVM gets file: URLs, so be absolute
KAFKA_HOME_DIR=$CACHE_DIR/kafka-$KAFKA_VERSION
LIB_DIR=$KAFKA_HOME_DIR/lib
FETCH_MARKER=$LIB_DIR/.fetch-complete # written into the temp dir before the atomic rename
readonly SCRIPT_DIR REPO_ROOT CACHE_DIR KAFKA_HOME_DIR LIB_DIR FETCH_MARKER

# Set by configure_port.
PORT='' CONTROLLER_PORT='' RUN_DIR='' PID_FILE='' LOG_FILE='' OUT_FILE='' PROPS_FILE='' LOG4J_FILE=''
SASL_SSL_PORT='' SCRAM_USER='' SCRAM_PASSWORD='' # SASL_SSL_PORT empty: no SASL_SSL listener
RELAYED_PORT='' RELAY_PORT='' # RELAYED_PORT empty: no RELAYED listener
TLS_DIR='' CA_PEM='' KEYSTORE='' KEYSTORE_PASS_FILE=''
DATA_RECORD='' DATA_DIR='' DATA_OWNER='' # DATA_* set by read_data_record

usage() {
  cat <<EOF
Usage: ${0##*/} <command> [options]

Single-node Apache Kafka $KAFKA_VERSION (KRaft, broker+controller in one JVM) on 127.0.0.1.

Commands:
  fetch               Download the broker jars with Maven into the cache (once; idempotent).
  start               Fetch if needed, start the broker in the background, wait until it
                      serves clients, then print its bootstrap address (127.0.0.1:PORT) on
                      stdout. Prints the bootstrap at once if it is already running.
  stop [--keep-data]  Stop the broker (SIGTERM, SIGKILL after ${KAFKA_STOP_TIMEOUT:-30} s) and delete
                      its data dir, unless --keep-data: then the next 'start' on the same
                      port restarts on the same data. Stopping a stopped broker is fine.
  kill                SIGKILL the broker at once; keeps its data (fault injection).
  status              Print the bootstrap and exit 0 if running; else exit 3.
  version             Print the Kafka version this script runs (KAFKA_VERSION or its default).
  -h, --help          Show this help.

stdout only ever carries the PLAINTEXT bootstrap; everything else goes to stderr.

Optional SASL_SSL listener (set KAFKA_SASL_SSL_PORT): the broker also listens on
127.0.0.1:KAFKA_SASL_SSL_PORT with SASL_SSL, SCRAM-SHA-256 or -512 and TLS; PLAINTEXT stays on for
inter-broker and admin use. At 'start' the script makes a local CA and a server certificate
for 127.0.0.1/localhost (keytool, kept in the run dir until 'stop' without --keep-data) and
logs "CA certificate (PEM): <path>" on stderr: clients use that file as their CA file. The
SCRAM user is created when the data dir is formatted, i.e. on a fresh start; a restart on
kept data keeps the credentials it was formatted with.

Optional RELAYED listener (set KAFKA_RELAYED_PORT and KAFKA_RELAY_PORT), for fault tests
that cut one client off from the broker: PLAINTEXT on 127.0.0.1:KAFKA_RELAYED_PORT, advertised
as 127.0.0.1:KAFKA_RELAY_PORT, where the test runs a TCP relay to it. A client bootstrapped
through the relay is told the relay's address, so all of its traffic crosses it.

Environment:
  KAFKA_VERSION          Apache Kafka release, 3.x or 4.x         [$DEFAULT_KAFKA_VERSION]
  KAFKA_PORT             broker (PLAINTEXT) port                  [9092]
  KAFKA_CONTROLLER_PORT  KRaft controller port                    [KAFKA_PORT+1]
  KAFKA_DATA_DIR         data dir for 'start'; it is never deleted by 'stop'
                         [a new mktemp -d dir, deleted by 'stop' without --keep-data]
  KAFKA_HEAP_OPTS        JVM heap options                         [-Xms256m -Xmx512m]
  KAFKA_OPTS             extra JVM options
  KAFKA_START_TIMEOUT    seconds 'start' waits for the broker     [90]
  KAFKA_STOP_TIMEOUT     seconds 'stop' waits before SIGKILL      [30]
  KAFKA_SASL_SSL_PORT    port of the optional SASL_SSL listener   [unset: PLAINTEXT only]
  KAFKA_RELAYED_PORT     port of the optional RELAYED listener    [unset: none]
  KAFKA_RELAY_PORT       the port it advertises (a relay's)       [unset: none]
  KAFKA_SCRAM_USER       SCRAM user (SHA-256 and SHA-512) created at format [wire]
  KAFKA_SCRAM_PASSWORD   its password (no , [ ] = " ' \ or spaces) [wire-secret]
  WIRE_INGEST_CACHE      cache root                               [<repo>/.cache]
  JAVA_HOME              JVM to use                               [java on PATH]

Jars: \$WIRE_INGEST_CACHE/kafka-$KAFKA_VERSION/lib
Pid file, logs, rendered config: \$WIRE_INGEST_CACHE/kafka-run/<port>/
TLS keystore and CA certificate:  \$WIRE_INGEST_CACHE/kafka-run/<port>/tls/ (ca.pem)
EOF
}

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Paths removed on exit (temp dirs of an interrupted fetch or start).
CLEANUP=()
cleanup() {
  local p
  for p in ${CLEANUP[@]+"${CLEANUP[@]}"}; do rm -rf -- "$p"; done
}
trap cleanup EXIT

java_bin() {
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
    printf '%s\n' "$JAVA_HOME/bin/java"
  else
    command -v java || true
  fi
}

keytool_bin() {
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/keytool ]]; then
    printf '%s\n' "$JAVA_HOME/bin/keytool"
  else
    command -v keytool || true
  fi
}

require_java() {
  [[ -n $(java_bin) ]] || die "java not found: install a JDK (17+) or set JAVA_HOME"
}

have_flock() { command -v flock >/dev/null 2>&1; }

# Serialisation (best effort: skipped where flock(1) is missing): fd 8 locks the fetch, fd 9 the
# run dir of one port. The broker JVM is started with both descriptors closed.
lock_fd() {
  have_flock || return 0
  flock -w "${KAFKA_LOCK_TIMEOUT:-900}" "$1" || die "timed out waiting for the lock on $2"
}

# ---------------------------------------------------------------------------------------- fetch

cmd_fetch() {
  [[ -f $FETCH_MARKER ]] && return 0
  require_java
  command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven 3.8+ (it fetches the Kafka jars)"
  mkdir -p -- "$KAFKA_HOME_DIR"
  exec 8>"$KAFKA_HOME_DIR/.fetch.lock"
  lock_fd 8 "$KAFKA_HOME_DIR/.fetch.lock"
  fetch_locked
  exec 8>&- # release: brokers on other ports may start meanwhile
}

fetch_locked() {
  [[ -f $FETCH_MARKER ]] && return 0 # another process finished the fetch while we waited
  if have_flock; then
    rm -rf -- "$KAFKA_HOME_DIR"/.lib.tmp.* # leftovers of killed fetches (we hold the lock)
  fi

  local tmp
  tmp=$(mktemp -d "$KAFKA_HOME_DIR/.lib.tmp.XXXXXX")
  CLEANUP+=("$tmp")
  log "fetching Apache Kafka $KAFKA_VERSION jars with Maven into $LIB_DIR ..."
  chmod 755 "$tmp" # mktemp -d makes it private
  # Maven 3.8 -q still prints bare ANSI resets; drop those, keep real messages (on stderr).
  if ! mvn -q -B -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" "-Dkafka.version=$KAFKA_VERSION" \
    "-P$MAVEN_PROFILE" dependency:copy-dependencies -DoutputDirectory="$tmp" \
    -DincludeScope=runtime 2>&1 |
    sed -e $'s/\e\\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' >&2; then
    die "Maven could not fetch the Kafka jars (see its output above)"
  fi
  [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die "Maven did not produce kafka_2.13-$KAFKA_VERSION.jar"
  local jars=("$tmp"/*.jar)
  date -u +%Y-%m-%dT%H:%M:%SZ >"$tmp/.fetch-complete"
  # Only a complete lib dir ever appears under the final name: a killed fetch leaves a temp dir.
  rm -rf -- "$LIB_DIR" # a lib dir without marker is not ours or broken
  mv -- "$tmp" "$LIB_DIR"
  log "fetched ${#jars[@]} jars"
}

# ------------------------------------------------------------------------------- broker helpers

check_port() {
  if [[ ! $2 =~ ^[0-9]{1,5}$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
    die "$1 must be a port number, got '$2'"
  fi
}

configure_port() {
  PORT=${KAFKA_PORT:-9092}
  check_port KAFKA_PORT "$PORT"
  CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
  check_port KAFKA_CONTROLLER_PORT "$CONTROLLER_PORT"
  [[ $PORT != "$CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
  SASL_SSL_PORT=${KAFKA_SASL_SSL_PORT:-}
  if [[ -n $SASL_SSL_PORT ]]; then
    check_port KAFKA_SASL_SSL_PORT "$SASL_SSL_PORT"
    SASL_SSL_PORT=$((10#$SASL_SSL_PORT))
    [[ $SASL_SSL_PORT != "$PORT" && $SASL_SSL_PORT != "$CONTROLLER_PORT" ]] ||
      die "KAFKA_SASL_SSL_PORT must differ from KAFKA_PORT and KAFKA_CONTROLLER_PORT"
  fi
  RELAYED_PORT=${KAFKA_RELAYED_PORT:-} RELAY_PORT=${KAFKA_RELAY_PORT:-}
  [[ (-n $RELAYED_PORT && -n $RELAY_PORT) || (-z $RELAYED_PORT && -z $RELAY_PORT) ]] ||
    die "KAFKA_RELAYED_PORT and KAFKA_RELAY_PORT go together: set both or neither"
  if [[ -n $RELAYED_PORT ]]; then
    check_port KAFKA_RELAYED_PORT "$RELAYED_PORT"
    check_port KAFKA_RELAY_PORT "$RELAY_PORT"
    RELAYED_PORT=$((10#$RELAYED_PORT)) RELAY_PORT=$((10#$RELAY_PORT))
    local p
    for p in "$PORT" "$CONTROLLER_PORT" "$SASL_SSL_PORT"; do
      [[ $RELAYED_PORT != "$p" && $RELAY_PORT != "$p" ]] ||
        die "KAFKA_RELAYED_PORT and KAFKA_RELAY_PORT must differ from the broker's other ports"
    done
    [[ $RELAYED_PORT != "$RELAY_PORT" ]] || die "KAFKA_RELAYED_PORT and KAFKA_RELAY_PORT must differ"
  fi
  RUN_DIR=$CACHE_DIR/kafka-run/$PORT
  PID_FILE=$RUN_DIR/kafka.pid
  LOG_FILE=$RUN_DIR/kafka.log          # log4j output of the broker
  OUT_FILE=$RUN_DIR/kafka.out          # stdout/stderr of the JVM (crashes, JVM errors)
  PROPS_FILE=$RUN_DIR/server.properties
  LOG4J_FILE=$RUN_DIR/$LOGGING.properties
  DATA_RECORD=$RUN_DIR/data-dir # line 1: data dir path; line 2: "created" (ours) or "external"
  TLS_DIR=$RUN_DIR/tls
  CA_PEM=$TLS_DIR/ca.pem                      # the CA certificate clients trust
  KEYSTORE=$TLS_DIR/server.p12                # broker key + certificate chain
  KEYSTORE_PASS_FILE=$TLS_DIR/keystore.password # random, also in server.properties
  if [[ ${1:-} == --lock ]]; then
    mkdir -p -- "$RUN_DIR"
    exec 9>"$RUN_DIR/.lock"
    lock_fd 9 "$RUN_DIR/.lock"
  fi
}

# The SCRAM user for the SASL_SSL listener ('start' only: nothing else needs it).
configure_scram() {
  SCRAM_USER=${KAFKA_SCRAM_USER:-wire}
  SCRAM_PASSWORD=${KAFKA_SCRAM_PASSWORD:-wire-secret}
  # Both go into StorageTool's "SCRAM-SHA-256=[name=...,password=...]" arguments.
  [[ $SCRAM_USER =~ ^[A-Za-z0-9._-]+$ ]] ||
    die "KAFKA_SCRAM_USER may only contain letters, digits, '.', '_' and '-'"
  local bad=$' \t\n,[]="\'\\'
  [[ -n $SCRAM_PASSWORD && $SCRAM_PASSWORD != *["$bad"]* ]] ||
    die "KAFKA_SCRAM_PASSWORD must be non-empty, without , [ ] = \" ' \\ or whitespace"
}

# True if PID is a live broker JVM started by this script for this run dir (guards against a
# recycled pid, and a zombie has no command line).
is_our_broker() {
  local args
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  args=$(ps -ww -p "$1" -o args= 2>/dev/null) || return 1
  [[ $args == *"kafka.Kafka $PROPS_FILE"* ]]
}

# is_alive PID: the process has not exited (a zombie counts as exited). While 'start' waits,
# its launch may not have exec'd the JVM yet (the subshell, setsid, nohup: a window a loaded
# machine stretches), so a launch is judged by this, not by is_our_broker.
is_alive() {
  local stat
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  stat=$(ps -p "$1" -o stat= 2>/dev/null) || return 1
  [[ $stat != *Z* ]]
}

# Print the pid of this port's broker, or nothing.
broker_pid() {
  local pid pid_args
  if [[ -f $PID_FILE ]]; then
    pid=$(<"$PID_FILE")
    if is_our_broker "$pid"; then
      printf '%s\n' "$pid"
      return 0
    fi
  fi
  # Pid file missing or stale: look for the process itself.
  while read -r pid pid_args; do
    if [[ $pid_args == *"kafka.Kafka $PROPS_FILE"* ]]; then
      printf '%s\n' "$pid"
      return 0
    fi
  done < <(ps -ww -e -o pid= -o args= 2>/dev/null || true)
}

# The Kafka version of a running broker, from the jar folder on its class path.
running_version() {
  local args
  args=$(ps -ww -p "$1" -o args= 2>/dev/null) || true
  if [[ $args =~ /kafka-([0-9]+\.[0-9]+\.[0-9]+)/lib/ ]]; then
    printf '%s\n' "${BASH_REMATCH[1]}"
  else
    printf 'unknown\n'
  fi
}

started() { [[ -f $LOG_FILE ]] && grep -qF "$STARTED_MESSAGE" "$LOG_FILE"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_gone PID SECONDS: poll until PID is gone; false if it is still alive at the deadline.
wait_gone() {
  local deadline=$((SECONDS + $2))
  while is_our_broker "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

kill_now() {
  kill -KILL "$1" 2>/dev/null || true
  wait_gone "$1" 10 || die "broker pid $1 survived SIGKILL"
}

dump_logs() {
  if [[ -s $LOG_FILE ]]; then
    printf -- '----- last 50 lines of %s -----\n' "$LOG_FILE" >&2
    tail -n 50 -- "$LOG_FILE" >&2
  fi
  if [[ -s $OUT_FILE ]]; then
    printf -- '----- last 50 lines of %s -----\n' "$OUT_FILE" >&2
    tail -n 50 -- "$OUT_FILE" >&2
  fi
}

read_data_record() {
  DATA_DIR='' DATA_OWNER=''
  if [[ -f $DATA_RECORD ]]; then
    { read -r DATA_DIR || true; read -r DATA_OWNER || true; } <"$DATA_RECORD"
  fi
}

# log.dirs is a comma-separated list in a Java properties file.
check_data_dir() {
  [[ $1 != *[,\\$'\n']* ]] && return 0
  log "error: the data dir path must not contain ',', '\\' or newlines: $1"
  return 1
}

random_cluster_id() { # 16 random bytes as base64url without padding, like Uuid.randomUuid()
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ ${#id} -eq 22 && $id != -* ]] && break # a leading '-' would look like a CLI flag
  done
  printf '%s\n' "$id"
}

render_config() {
  local line sasl_listener='' sasl_protocol='' keystore_password=''
  local relayed_listener='' relayed_advertised='' relayed_protocol=''
  if [[ -n $RELAYED_PORT ]]; then
    relayed_listener=",RELAYED://127.0.0.1:$RELAYED_PORT"
    relayed_advertised=",RELAYED://127.0.0.1:$RELAY_PORT"
    relayed_protocol=",RELAYED:PLAINTEXT"
  fi
  if [[ -n $SASL_SSL_PORT ]]; then
    sasl_listener=",SASL_SSL://127.0.0.1:$SASL_SSL_PORT"
    sasl_protocol=",SASL_SSL:SASL_SSL"
    keystore_password=$(<"$KEYSTORE_PASS_FILE")
  fi
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line == @SASL_SSL@* ]]; then # a line of the optional SASL_SSL listener
      [[ -n $SASL_SSL_PORT ]] || continue
      line=${line#@SASL_SSL@}
    fi
    if [[ $line != \#* ]]; then # comments keep their @NAME@ mentions
      line=${line//@PORT@/"$PORT"}
      line=${line//@CONTROLLER_PORT@/"$CONTROLLER_PORT"}
      line=${line//@LOG_DIRS@/"$DATA_DIR"}
      line=${line//@SASL_SSL_LISTENER@/"$sasl_listener"}
      line=${line//@SASL_SSL_PROTOCOL@/"$sasl_protocol"}
      line=${line//@RELAYED_LISTENER@/"$relayed_listener"}
      line=${line//@RELAYED_ADVERTISED@/"$relayed_advertised"}
      line=${line//@RELAYED_PROTOCOL@/"$relayed_protocol"}
      line=${line//@SSL_KEYSTORE@/"$KEYSTORE"}
      line=${line//@SSL_KEYSTORE_PASSWORD@/"$keystore_password"}
      [[ ! $line =~ @[A-Z_]+@ ]] || die "unknown placeholder in server.properties.template: $line"
    fi
    printf '%s\n' "$line"
  done <"$SCRIPT_DIR/server.properties.template" >"$PROPS_FILE"
  # It may hold the keystore password.
  chmod 600 -- "$PROPS_FILE"

  if [[ $LOGGING == log4j2 ]]; then
    cat >"$LOG4J_FILE" <<EOF
# Written by kafka.sh: everything at INFO into one file (the JVM's own output goes to kafka.out).
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $LOG_FILE
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
# Per-request logging is far too chatty.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.channel.name = kafka.network.RequestChannel\$
logger.channel.level = WARN
EOF
    return 0
  fi
  cat >"$LOG4J_FILE" <<EOF
# Written by kafka.sh: everything at INFO into one file (the JVM's own output goes to kafka.out).
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$LOG_FILE
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
# Per-request logging is far too chatty.
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel\$=WARN
EOF
}

# The JVM option that points the broker's logging backend at LOG4J_FILE.
logging_option() {
  if [[ $LOGGING == log4j2 ]]; then
    printf '%s\n' "-Dlog4j2.configurationFile=$LOG4J_FILE"
  else
    printf '%s\n' "-Dlog4j.configuration=file:$LOG4J_FILE"
  fi
}

# ------------------------------------------------------------------------------- SASL_SSL / TLS

# The SASL_SSL port of the broker that runs on PROPS_FILE's config, or nothing.
configured_sasl_ssl_port() {
  local line
  [[ -f $PROPS_FILE ]] || return 0
  line=$(grep -m1 '^listeners=' -- "$PROPS_FILE" || true)
  [[ $line =~ SASL_SSL://127\.0\.0\.1:([0-9]+) ]] && printf '%s\n' "${BASH_REMATCH[1]}"
  return 0
}

# The RELAYED listener of the running broker (on PROPS_FILE's config) as
# "<relayed port>:<relay port>", or nothing.
configured_relay() {
  local listeners advertised
  [[ -f $PROPS_FILE ]] || return 0
  listeners=$(grep -m1 '^listeners=' -- "$PROPS_FILE" || true)
  advertised=$(grep -m1 '^advertised.listeners=' -- "$PROPS_FILE" || true)
  [[ $listeners =~ RELAYED://127\.0\.0\.1:([0-9]+) ]] || return 0
  local relayed=${BASH_REMATCH[1]}
  [[ $advertised =~ RELAYED://127\.0\.0\.1:([0-9]+) ]] &&
    printf '%s:%s\n' "$relayed" "${BASH_REMATCH[1]}"
  return 0
}

random_secret() { head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

# A local CA and a server certificate for 127.0.0.1/localhost signed by it, made with keytool
# into TLS_DIR: server.p12 (broker key and chain), ca.pem (for clients), keystore.password.
# Reused while present, so a restart keeps the CA that clients already trust.
ensure_tls() {
  if [[ -s $CA_PEM && -s $KEYSTORE && -s $KEYSTORE_PASS_FILE ]]; then
    log "reusing the TLS keystore in $TLS_DIR"
    return 0
  fi
  local keytool
  keytool=$(keytool_bin)
  [[ -n $keytool ]] || die "keytool not found: install a JDK (17+) or set JAVA_HOME"
  # Seven short-lived JVMs: skip the optimising JIT, it only costs start-up time here.
  local -a kt=("$keytool" -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC)
  local tmp
  tmp=$(mktemp -d "$RUN_DIR/.tls.tmp.XXXXXX")
  CLEANUP+=("$tmp")
  # keytool reads the password from the environment: it never shows up in ps.
  local -x WIRE_INGEST_KEYSTORE_PASS
  WIRE_INGEST_KEYSTORE_PASS=$(random_secret)
  local -a pass=(-storepass:env WIRE_INGEST_KEYSTORE_PASS)
  local -a key=(-keyalg EC -groupname secp256r1 -sigalg SHA256withECDSA -validity 3650
    -storetype PKCS12 -keypass:env WIRE_INGEST_KEYSTORE_PASS)
  local started_at=$SECONDS
  if ! {
    "${kt[@]}" -genkeypair -alias ca -dname "CN=wire-ingest local test CA" "${key[@]}" \
      -ext bc:c=ca:true -ext ku:c=keyCertSign,cRLSign -keystore "$tmp/ca.p12" "${pass[@]}" &&
      "${kt[@]}" -exportcert -rfc -alias ca -keystore "$tmp/ca.p12" "${pass[@]}" \
        -file "$tmp/ca.pem" &&
      "${kt[@]}" -genkeypair -alias broker -dname "CN=localhost" "${key[@]}" \
        -keystore "$tmp/server.p12" "${pass[@]}" &&
      "${kt[@]}" -certreq -alias broker -keystore "$tmp/server.p12" "${pass[@]}" \
        -file "$tmp/broker.csr" &&
      "${kt[@]}" -gencert -alias ca -keystore "$tmp/ca.p12" "${pass[@]}" -rfc -validity 3650 \
        -infile "$tmp/broker.csr" -outfile "$tmp/broker.pem" \
        -ext san=ip:127.0.0.1,dns:localhost -ext ku:c=digitalSignature -ext eku=serverAuth &&
      "${kt[@]}" -importcert -noprompt -alias ca -file "$tmp/ca.pem" \
        -keystore "$tmp/server.p12" "${pass[@]}" &&
      "${kt[@]}" -importcert -noprompt -alias broker -file "$tmp/broker.pem" \
        -keystore "$tmp/server.p12" "${pass[@]}"
  } >"$tmp/keytool.log" 2>&1; then
    cat -- "$tmp/keytool.log" >&2
    die "keytool could not make the TLS keystore (output above)"
  fi
  (umask 077 && printf '%s\n' "$WIRE_INGEST_KEYSTORE_PASS" >"$tmp/keystore.password")
  rm -f -- "$tmp/ca.p12" "$tmp/broker.csr" "$tmp/keytool.log" # the CA key is not needed again
  chmod 700 -- "$tmp"
  rm -rf -- "$TLS_DIR"
  mv -- "$tmp" "$TLS_DIR"
  log "made a TLS keystore for 127.0.0.1/localhost in $((SECONDS - started_at))s: $TLS_DIR"
}

# Tell the caller how to reach the SASL_SSL listener of the running broker (stderr).
log_sasl_ssl() {
  local port
  port=$(configured_sasl_ssl_port)
  [[ -n $port ]] || return 0
  log "SASL_SSL (SCRAM-SHA-256, SCRAM-SHA-512) on 127.0.0.1:$port"
  log "CA certificate (PEM): $CA_PEM"
}

# ------------------------------------------------------------------------------------ commands

cmd_start() {
  local timeout=${KAFKA_START_TIMEOUT:-90}
  [[ $timeout =~ ^[0-9]+$ ]] || die "KAFKA_START_TIMEOUT must be a whole number of seconds"
  configure_port
  [[ -z $SASL_SSL_PORT ]] || configure_scram # fail on a bad setting before any work
  cmd_fetch
  configure_port --lock
  local bootstrap="127.0.0.1:$PORT" pid
  pid=$(broker_pid)
  if [[ -n $pid ]]; then
    read_data_record
    if [[ -n ${KAFKA_DATA_DIR:-} && $KAFKA_DATA_DIR != "$DATA_DIR" ]]; then
      log "warning: broker already running on port $PORT with data dir $DATA_DIR, not $KAFKA_DATA_DIR"
    fi
    local running_sasl_port
    running_sasl_port=$(configured_sasl_ssl_port)
    if [[ -n $SASL_SSL_PORT && $SASL_SSL_PORT != "$running_sasl_port" ]]; then
      die "broker already running on port $PORT without a SASL_SSL listener on $SASL_SSL_PORT" \
        "(it has: ${running_sasl_port:-none}); stop it first"
    fi
    local running_relay
    running_relay=$(configured_relay)
    if [[ -n $RELAY_PORT && $RELAYED_PORT:$RELAY_PORT != "$running_relay" ]]; then
      die "broker already running on port $PORT without a RELAYED listener on" \
        "$RELAYED_PORT for relay port $RELAY_PORT (it has: ${running_relay:-none}); stop it first"
    fi
    if started; then
      log "already running (pid $pid)"
      log_sasl_ssl
      printf '%s\n' "$bootstrap"
      return 0
    fi
    # Not ready yet (started outside the lock?); fall through to the wait below.
  else
    local p
    for p in "$PORT" "$CONTROLLER_PORT" ${SASL_SSL_PORT:+"$SASL_SSL_PORT"} ${RELAYED_PORT:+"$RELAYED_PORT"}; do
      ! port_in_use "$p" || die "port $p on 127.0.0.1 is already in use by another process"
    done

    # Data dir: explicit, else the one a 'stop --keep-data' / 'kill' left, else a new one.
    read_data_record
    if [[ -n ${KAFKA_DATA_DIR:-} ]]; then
      [[ $KAFKA_DATA_DIR == /* ]] || KAFKA_DATA_DIR=$PWD/$KAFKA_DATA_DIR
      if [[ $DATA_OWNER == created && $DATA_DIR != "$KAFKA_DATA_DIR" && -d $DATA_DIR ]]; then
        log "note: leaving the previous data dir $DATA_DIR in place"
      fi
      DATA_DIR=$KAFKA_DATA_DIR DATA_OWNER=external
      check_data_dir "$DATA_DIR" || exit 1
      mkdir -p -- "$DATA_DIR"
    elif [[ -n $DATA_DIR && -d $DATA_DIR ]]; then
      log "reusing data dir $DATA_DIR"
    else
      DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wire-ingest-kafka-$PORT.XXXXXX") DATA_OWNER=created
      check_data_dir "$DATA_DIR" || { rm -rf -- "$DATA_DIR"; exit 1; }
    fi
    printf '%s\n%s\n' "$DATA_DIR" "$DATA_OWNER" >"$DATA_RECORD"

    [[ -z $SASL_SSL_PORT ]] || ensure_tls
    render_config
    # Fresh log per launch, so an old "started" line cannot fool the wait below.
    [[ -f $LOG_FILE ]] && mv -f -- "$LOG_FILE" "$LOG_FILE.1"
    [[ -f $OUT_FILE ]] && mv -f -- "$OUT_FILE" "$OUT_FILE.1"

    local java classpath="$LIB_DIR/*"
    java=$(java_bin)
    local -a jvm_opts
    read -r -a jvm_opts <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} ${KAFKA_OPTS:-}"
    jvm_opts+=(-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
      "$(logging_option)")

    if [[ -f $DATA_DIR/meta.properties ]]; then
      log "data dir already formatted, restarting on it: $DATA_DIR"
      [[ -z $SASL_SSL_PORT ]] ||
        log "note: SCRAM users are those of its first format (KAFKA_SCRAM_* apply to fresh data only;" \
          "a dir formatted before SCRAM-SHA-512 was offered has no SHA-512 user)"
    else
      local cluster_id
      cluster_id=$(random_cluster_id)
      local -a format_args=(format -t "$cluster_id" -c "$PROPS_FILE")
      if [[ -n $SASL_SSL_PORT ]]; then
        # The SCRAM credentials go into the bootstrap metadata, before the broker first runs.
        local mechanism
        for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
          format_args+=(--add-scram "$mechanism=[name=$SCRAM_USER,password=$SCRAM_PASSWORD]")
        done
        log "formatting $DATA_DIR (cluster id $cluster_id, SCRAM-SHA-256/512 user $SCRAM_USER)"
      else
        log "formatting $DATA_DIR (cluster id $cluster_id)"
      fi
      if ! "$java" "$(logging_option)" -cp "$classpath" \
        kafka.tools.StorageTool "${format_args[@]}" >>"$OUT_FILE" 2>&1; then
        dump_logs
        die "formatting the data dir failed"
      fi
    fi

    local -a launcher=(nohup)
    command -v setsid >/dev/null 2>&1 && launcher=(setsid nohup) # own session: survives our shell
    # The subshell execs setsid, which execs nohup, which execs java: $! is the JVM's pid.
    (
      cd -- "$RUN_DIR" # crash files (hs_err_pid*.log) land here
      exec "${launcher[@]}" "$java" "${jvm_opts[@]}" -cp "$classpath" kafka.Kafka "$PROPS_FILE" \
        </dev/null >>"$OUT_FILE" 2>&1 8>&- 9>&-
    ) &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"
    log "started pid $pid on $bootstrap (controller 127.0.0.1:$CONTROLLER_PORT${SASL_SSL_PORT:+, SASL_SSL 127.0.0.1:$SASL_SSL_PORT}), waiting up to ${timeout}s ..."
  fi

  local deadline=$((SECONDS + timeout))
  until started; do
    if ! is_alive "$pid"; then
      dump_logs
      rm -f -- "$PID_FILE"
      die "the broker exited during startup (logs above; run dir $RUN_DIR)"
    fi
    if ((SECONDS >= deadline)); then
      dump_logs
      kill_now "$pid"
      rm -f -- "$PID_FILE"
      die "the broker did not start within ${timeout}s; killed it (logs above; run dir $RUN_DIR)"
    fi
    sleep 0.2
  done
  log "ready after ${SECONDS}s"
  log_sasl_ssl
  printf '%s\n' "$bootstrap"
}

cmd_stop() {
  local keep_data=false arg
  for arg in "$@"; do
    case $arg in
      --keep-data) keep_data=true ;;
      *) die "stop: unknown option '$arg' (see --help)" ;;
    esac
  done
  local timeout=${KAFKA_STOP_TIMEOUT:-30}
  [[ $timeout =~ ^[0-9]+$ ]] || die "KAFKA_STOP_TIMEOUT must be a whole number of seconds"
  configure_port --lock
  local pid
  pid=$(broker_pid)
  if [[ -n $pid ]]; then
    log "stopping pid $pid (port $PORT) ..."
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$timeout"; then
      log "still alive after ${timeout}s, sending SIGKILL"
      kill_now "$pid"
    fi
    log "stopped"
  else
    log "not running (port $PORT)"
  fi
  rm -f -- "$PID_FILE"

  read_data_record
  if $keep_data; then
    [[ -z $DATA_DIR ]] || log "kept data dir $DATA_DIR"
  else
    rm -rf -- "$TLS_DIR" # a fresh start gets a fresh CA, as it gets fresh data
  fi
  if ! $keep_data && [[ -n $DATA_DIR ]]; then
    if [[ $DATA_OWNER == created && $DATA_DIR == /?* ]]; then
      rm -rf -- "$DATA_DIR"
      log "removed data dir $DATA_DIR"
    else
      log "left data dir $DATA_DIR in place (given via KAFKA_DATA_DIR)"
    fi
    rm -f -- "$DATA_RECORD"
  fi
}

cmd_kill() {
  configure_port --lock
  local pid
  pid=$(broker_pid)
  if [[ -n $pid ]]; then
    kill_now "$pid"
    log "killed pid $pid (port $PORT); data kept"
  else
    log "not running (port $PORT)"
  fi
  rm -f -- "$PID_FILE"
}

cmd_status() {
  configure_port # no lock: status must answer at once, even while a start is waiting
  local pid
  pid=$(broker_pid)
  if [[ -n $pid ]] && started; then
    log "running (pid $pid, Kafka $(running_version "$pid"))"
    log_sasl_ssl
    printf '127.0.0.1:%s\n' "$PORT"
    return 0
  fi
  if [[ -n $pid ]]; then
    log "starting (pid $pid), not serving yet (port $PORT)"
  else
    log "stopped (port $PORT)"
  fi
  return 3
}

no_args() { (($# == 1)) || die "$1 takes no arguments"; }

main() {
  local cmd=${1:-}
  (($# == 0)) || shift
  case $cmd in
    fetch) no_args fetch "$@" && cmd_fetch ;;
    start) no_args start "$@" && cmd_start ;;
    stop) cmd_stop "$@" ;;
    kill) no_args kill "$@" && cmd_kill ;;
    status) no_args status "$@" && cmd_status ;;
    version) no_args version "$@" && printf '%s\n' "$KAFKA_VERSION" ;;
    -h | --help | help) usage ;;
    "")
      usage >&2
      exit 2
      ;;
    *)
      usage >&2
      die "unknown command '$cmd'"
      ;;
  esac
}

main "$@"
