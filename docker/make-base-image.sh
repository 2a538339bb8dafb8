#!/usr/bin/env bash
# Makes the base image of docker/Dockerfile, localhost/culex-node:20, from this machine's Node.js:
# a minimal root file system with node, npm, the shared libraries they load, /bin/sh, /usr/bin/env,
# the CA bundle and an /etc/passwd that knows the culex user (uid/gid 10001), imported as an image.
#
#   docker/make-base-image.sh            # makes localhost/culex-node:20 unless it exists
#   docker/make-base-image.sh --force    # makes it again
#   CONTAINER_ENGINE=docker docker/make-base-image.sh
#
# Environment: CULEX_BASE_IMAGE (image name, default localhost/culex-node:20), CONTAINER_ENGINE
# (podman or docker; default podman, else docker).
set -euo pipefail

IMAGE=${CULEX_BASE_IMAGE:-localhost/culex-node:20}
ENGINE=${CONTAINER_ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}
CULEX_UID=10001
force=false
for arg in "$@"; do
  case "$arg" in
    --force) force=true ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-base-image: unknown argument $arg" >&2; exit 2 ;;
  esac
done

die() { echo "make-base-image: $*" >&2; exit 1; }
command -v "$ENGINE" >/dev/null 2>&1 || die "$ENGINE not found (set CONTAINER_ENGINE to podman or docker)"

previous=$("$ENGINE" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
if [ "$force" = false ] && [ -n "$previous" ]; then
  echo "make-base-image: $IMAGE exists (--force makes it again)"
  exit 0
fi

node_bin=$(readlink -f "$(command -v node)") || die "node not found"
node_version=$("$node_bin" --version)
# The tag promises Node 20; another major under the default name would mislead every build.
if [ "${node_version%%.*}" != v20 ] && [ -z "${CULEX_BASE_IMAGE:-}" ]; then
  die "this machine has node $node_version; the default name says 20: set CULEX_BASE_IMAGE (and build with --build-arg BASE_IMAGE=...)"
fi
npm_dir=$(dirname "$(readlink -f "$(command -v npm)")")/..
npm_dir=$(cd "$npm_dir" && pwd)
[ -f "$npm_dir/bin/npm-cli.js" ] || die "npm not found next to node (looked in $npm_dir)"

# /bin/sh runs RUN lines and npm scripts; a static busybox needs no libraries, else the host's dash.
if command -v busybox >/dev/null 2>&1 && ! ldd "$(command -v busybox)" >/dev/null 2>&1; then
  shell_bin=$(readlink -f "$(command -v busybox)")
else
  shell_bin=$(readlink -f "$(command -v dash || command -v sh)")
fi
# npm's and the packages' scripts start with #!/usr/bin/env node.
env_bin=$(readlink -f /usr/bin/env)

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT

# Copies a file to the same path under the root file system, following symbolic links.
copy_file() { mkdir -p "$rootfs$(dirname "$1")" && cp -L "$1" "$rootfs$1"; }
# The shared libraries a binary loads, and the dynamic loader, at the paths ldd reports.
copy_libs() {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u | while read -r lib; do
    copy_file "$lib"
  done
}

mkdir -p "$rootfs"/{bin,usr/bin,usr/local/bin,usr/local/lib/node_modules,etc/ssl/certs,tmp,root,opt,dev,proc,sys}
chmod 1777 "$rootfs/tmp"
chmod 700 "$rootfs/root"

cp "$node_bin" "$rootfs/usr/local/bin/node"
cp "$shell_bin" "$rootfs/bin/$(basename "$shell_bin")"
[ "$(basename "$shell_bin")" = sh ] || ln -s "$(basename "$shell_bin")" "$rootfs/bin/sh"
cp "$env_bin" "$rootfs/usr/bin/env"
for bin in "$node_bin" "$shell_bin" "$env_bin"; do copy_libs "$bin"; done

# npm without its manuals; npm and npx as the symbolic links its own installer makes.
(cd "$npm_dir/.." && tar -c --exclude=npm/docs --exclude=npm/man npm) | tar -x -C "$rootfs/usr/local/lib/node_modules"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

# The host's CA bundle, trusted by node too (NODE_EXTRA_CA_CERTS below): npm ci in the build stage then
# reaches the registry through whatever TLS proxy the host trusts.
[ -f /etc/ssl/certs/ca-certificates.crt ] || die "/etc/ssl/certs/ca-certificates.crt not found (install ca-certificates)"
cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
cat >"$rootfs/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
culex:x:$CULEX_UID:$CULEX_UID:culex:/opt/culex:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
EOF
cat >"$rootfs/etc/group" <<EOF
root:x:0:
culex:x:$CULEX_UID:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"

echo "make-base-image: node $node_version, npm $("$node_bin" "$npm_dir/bin/npm-cli.js" --version), /bin/sh = $(basename "$shell_bin"); importing $IMAGE with $ENGINE"
quiet=()
[ "$(basename "$ENGINE")" = podman ] && quiet=(--quiet)
# Fixed owners and times: the same host makes the same layer.
tar -C "$rootfs" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -c . |
  "$ENGINE" import "${quiet[@]}" \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV NPM_CONFIG_UPDATE_NOTIFIER=false' \
    --change 'CMD ["node"]' \
    - "$IMAGE" >/dev/null
# The image this one replaces, unless something still uses it.
[ -z "$previous" ] || "$ENGINE" image rm "$previous" >/dev/null 2>&1 || true
"$ENGINE" image inspect "$IMAGE" --format "make-base-image: made $IMAGE ({{.Size}} bytes)"
