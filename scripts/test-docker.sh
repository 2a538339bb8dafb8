#!/usr/bin/env bash
# npm run test:docker: builds the Culex image with podman (docker/Dockerfile, on the base image that
# docker/make-base-image.sh makes when it is absent), starts a container with its ports published on
# 127.0.0.1 and fresh data/certs volumes, waits for the health check, then checks it with real clients:
# MQTT over TCP, MQTT over TLS with the CA the container created in its certs volume, an environment
# override, a clean stop on SIGTERM and a restart that keeps the certificates. One PASS/FAIL line per
# check; exit 0 when all pass, 1 otherwise, 0 with "SKIP: podman not found" without podman.
#
# Environment: CULEX_BASE_IMAGE (default localhost/culex-node:20), CULEX_TEST_IMAGE (the tag built,
# default localhost/culex:test). The image and podman's layer cache stay; the container and volumes go.
# shellcheck disable=SC2015  # "check && pass || fail": pass never fails
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if ! command -v podman >/dev/null 2>&1; then
  echo "SKIP: podman not found"
  exit 0
fi

BASE_IMAGE=${CULEX_BASE_IMAGE:-localhost/culex-node:20}
IMAGE=${CULEX_TEST_IMAGE:-localhost/culex:test}
NAME=culex-test-$$
NODE_NAME=culex@docker-test
work=$(mktemp -d)
passed=0
failed=0

pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
summary() { echo "docker: ${passed} passed, ${failed} failed"; }
# Stops here: what follows needs what just failed.
abort() { fail "$@"; summary; exit 1; }
cleanup() {
  timeout 30 podman rm -f -t 0 "$NAME" >/dev/null 2>&1
  timeout 30 podman volume rm -f "$NAME-data" "$NAME-certs" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
elapsed() { echo $((SECONDS - $1))s; }

# podman's defaults (nofile 1048576, the host's nproc) can be more than a container may set where
# podman itself runs limited (VMs, sandboxes): runc then fails with "error setting rlimit".
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ] && nofile=65536
run_flags=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
command -v runc >/dev/null 2>&1 && run_flags+=(--runtime runc)

# --- image ---
start=$SECONDS
if ! timeout 30 podman image exists "$BASE_IMAGE"; then
  CONTAINER_ENGINE=podman timeout 300 docker/make-base-image.sh >"$work/base.log" 2>&1 ||
    { cat "$work/base.log"; abort "base image $BASE_IMAGE (docker/make-base-image.sh)"; }
  pass "base image $BASE_IMAGE made in $(elapsed "$start")"
fi
start=$SECONDS
# --format docker keeps the HEALTHCHECK (the OCI image format has none).
if timeout 900 podman build --isolation=chroot --format docker --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    -f docker/Dockerfile -t "$IMAGE" . >"$work/build.log" 2>&1; then
  pass "image $IMAGE built in $(elapsed "$start"), $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%d MB", $1 / 1e6 }')"
else
  # without the usage text npm prints after some errors, which would hide their cause
  awk '/^npm error Usage:/ { skip = 1 } !skip { print } /^npm error Run "npm help/ { skip = 0 }' "$work/build.log" | tail -n 40
  abort "podman build of docker/Dockerfile (log above)"
fi

# --- container ---
start=$SECONDS
timeout 30 podman volume create "$NAME-data" >/dev/null && timeout 30 podman volume create "$NAME-certs" >/dev/null ||
  abort "podman volume create"
if ! timeout 60 podman run -d --name "$NAME" "${run_flags[@]}" \
    -p 127.0.0.1::1883 -p 127.0.0.1::8883 \
    -v "$NAME-data:/opt/culex/data" -v "$NAME-certs:/opt/culex/certs" \
    -e "EMQX_NODE__NAME=$NODE_NAME" \
    "$IMAGE" >"$work/run.log" 2>&1; then
  cat "$work/run.log"
  abort "podman run $IMAGE"
fi

# Podman runs health checks from systemd timers; without systemd `podman healthcheck run` does it.
wait_healthy() {
  local deadline=$((SECONDS + 30)) status
  while [ $SECONDS -lt $deadline ]; do
    timeout 10 podman healthcheck run "$NAME" >/dev/null 2>&1
    status=$(timeout 10 podman inspect --format '{{.State.Health.Status}}' "$NAME" 2>/dev/null)
    [ "$status" = healthy ] && return 0
    [ "$(timeout 10 podman inspect --format '{{.State.Running}}' "$NAME" 2>/dev/null)" = true ] || break
    sleep 1
  done
  echo "health: ${status:-none}; container log:"
  timeout 10 podman logs "$NAME" 2>&1 | tail -n 20
  return 1
}
wait_healthy && pass "container healthy in $(elapsed "$start")" || abort "container not healthy within 30s"

uid=$(timeout 10 podman exec "$NAME" node -e 'process.stdout.write(String(process.getuid()))' 2>&1)
[ -n "$uid" ] && [ "$uid" != 0 ] && pass "broker runs as uid $uid, not root" || fail "broker runs as uid '$uid'"
etc_files=$(timeout 30 podman exec "$NAME" node -e "console.log(require('node:fs').readdirSync('etc').sort().join(' '))" 2>&1)
[ "$etc_files" = "acl.conf base.hocon" ] && pass "the image's etc/ holds only the shipped config ($etc_files)" ||
  fail "the image's etc/ holds '$etc_files', expected only acl.conf base.hocon"

status=$(timeout 10 podman exec "$NAME" node -e \
  'fetch("http://127.0.0.1:18083/api/v5/status").then((r) => r.text()).then((t) => process.stdout.write(t), (e) => process.stdout.write(String(e)))' 2>&1)
[[ "$status" == "Node $NODE_NAME is started"* ]] && pass "EMQX_NODE__NAME override applied (/api/v5/status: ${status%%$'\n'*})" ||
  fail "/api/v5/status said '$status', expected the node name $NODE_NAME"

page=$(timeout 10 podman exec "$NAME" node -e \
  'fetch("http://127.0.0.1:18083/").then((r) => r.text()).then((t) => process.stdout.write(t), (e) => process.stdout.write(String(e)))' 2>&1)
[[ "$page" == *"<title>Culex</title>"* && "$page" == *"assets/app-"* ]] && pass "the dashboard is served at / on 18083" ||
  fail "GET / on 18083 did not answer the dashboard: '${page:0:200}'"

port() { local p; p=$(timeout 10 podman port "$NAME" "$1/tcp" 2>/dev/null | head -n 1); echo "${p##*:}"; }
tcp_port=$(port 1883)
tls_port=$(port 8883)
[ -n "$tcp_port" ] && [ -n "$tls_port" ] || abort "published ports: 1883 -> '$tcp_port', 8883 -> '$tls_port'"

certs_dir=$(timeout 10 podman volume inspect --format '{{.Mountpoint}}' "$NAME-certs")
ca=$certs_dir/ca.pem
# Rootless podman may keep the volume where this user cannot read it.
[ -r "$ca" ] || { timeout 10 podman cp "$NAME:/opt/culex/certs/ca.pem" "$work/ca.pem" >/dev/null 2>&1; ca=$work/ca.pem; }
[ -s "$ca" ] && pass "development certificates created in the certs volume ($ca)" || abort "no ca.pem in the certs volume"

# One message from a publisher to a subscriber through the container. Arguments: port, then client
# options (TLS: --cafile FILE). The publisher repeats until the subscriber has it, as it may not be
# subscribed yet; everything is bounded to 10 s.
roundtrip() {
  local port=$1 payload="hello-$RANDOM-$$" out=$work/sub.out
  shift
  if command -v mosquitto_sub >/dev/null 2>&1; then
    timeout 10 mosquitto_sub -h 127.0.0.1 -p "$port" "$@" -i "sub-$$" -t "docker-test/#" -q 1 -C 1 -W 8 >"$out" 2>&1 &
    local sub=$!
    for _ in $(seq 1 16); do
      timeout 5 mosquitto_pub -h 127.0.0.1 -p "$port" "$@" -i "pub-$$" -t docker-test/1 -q 1 -m "$payload" >/dev/null 2>&1
      kill -0 "$sub" 2>/dev/null || break
      sleep 0.5
    done
    wait "$sub"
  elif [ -d node_modules/mqtt ]; then
    local ca_file=""
    [ "${1:-}" = --cafile ] && ca_file=$2
    timeout 10 node --input-type=module -e '
      import mqtt from "mqtt"
      import { readFileSync } from "node:fs"
      const [port, caFile, payload] = process.argv.slice(1)
      const client = mqtt.connect({ host: "127.0.0.1", port: Number(port), protocol: caFile ? "mqtts" : "mqtt",
        ...(caFile ? { ca: readFileSync(caFile) } : {}), connectTimeout: 5000, reconnectPeriod: 0 })
      client.on("error", (err) => { console.log(err.message); process.exit(1) })
      client.on("message", (topic, message) => { console.log(message.toString()); client.end(() => process.exit(0)) })
      client.on("connect", () => client.subscribe("docker-test/#", { qos: 1 }, () => client.publish("docker-test/1", payload, { qos: 1 })))
      setTimeout(() => { console.log("no message within 8s"); process.exit(1) }, 8000)
    ' "$port" "$ca_file" "$payload" >"$out" 2>&1
  else
    echo "neither mosquitto_sub nor node_modules/mqtt" >"$out"
  fi
  [ "$(cat "$out")" = "$payload" ] || { echo "  received: $(head -c 300 "$out")"; return 1; }
}

roundtrip "$tcp_port" && pass "MQTT over TCP: publish/subscribe round trip on 127.0.0.1:$tcp_port" ||
  fail "MQTT over TCP on 127.0.0.1:$tcp_port"
roundtrip "$tls_port" --cafile "$ca" && pass "MQTT over TLS: round trip on 127.0.0.1:$tls_port verified with the volume's ca.pem" ||
  fail "MQTT over TLS on 127.0.0.1:$tls_port with --cafile $ca"
if command -v mosquitto_pub >/dev/null 2>&1; then
  # The same client without that CA must refuse the server: TLS really verifies against the generated CA.
  refused=$(timeout 10 mosquitto_pub -d -h 127.0.0.1 -p "$tls_port" --capath /etc/ssl/certs -t docker-test/x -m x 2>&1)
  [[ "$refused" == *"certificate verify failed"* ]] && pass "MQTT over TLS without the volume's CA: the client refuses the server certificate" ||
    fail "MQTT over TLS without the volume's CA: expected 'certificate verify failed', got '${refused:-success}'"
fi

# SIGTERM (podman stop) ends the broker cleanly: exit code 0 well within the 10 s grace period.
timeout 30 podman stop -t 10 "$NAME" >/dev/null 2>&1
code=$(timeout 10 podman inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] && pass "podman stop: broker exited with code 0" || fail "podman stop: exit code '$code'"

# A restart keeps the volumes: the same CA, and TLS still verifies with it.
ca_sum=$(sha256sum <"$ca")
start=$SECONDS
if timeout 60 podman start "$NAME" >/dev/null 2>&1 && wait_healthy; then
  pass "restarted and healthy in $(elapsed "$start")"
  [ "$(sha256sum <"$ca")" = "$ca_sum" ] && pass "restart kept the certificates in the certs volume" || fail "restart replaced ca.pem"
  tls_port=$(port 8883)
  roundtrip "$tls_port" --cafile "$ca" && pass "MQTT over TLS after the restart" || fail "MQTT over TLS after the restart"
else
  fail "container did not come back healthy after podman start"
fi

summary
[ "$failed" -eq 0 ]
