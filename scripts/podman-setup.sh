#!/usr/bin/env bash
# Podman as Studio's container engine on a Debian 12 machine without Docker or a reachable image registry:
# installs podman, configures one store under $STUDIO_PODMAN_DIR, serves the Docker Engine API on a unix socket (the
# `docker` SDK of the container runtime talks to it), and makes the local base images that the model images build on.
#
# Idempotent and meant to run at the start of every CI run: each step checks first and is skipped when done (a
# warm run takes about a second). Needs root (rootful podman is what works on these VMs; see
# /work/shared/containers.md for why each setting below is there).
#
# stdout carries only the result, as shell lines, so that `eval "$(bash scripts/podman-setup.sh)"` sets them:
#   export DOCKER_HOST=unix:///var/lib/studio-podman/podman.sock
#   export STUDIO_CONTAINER_BASE_IMAGE=localhost/studio-python:3.11
#   export CONTAINERS_CONF=... CONTAINERS_STORAGE_CONF=...   (for the podman CLI)
# The same lines are written to $STUDIO_PODMAN_DIR/env. Progress goes to stderr.
#
# Environment: STUDIO_PODMAN_DIR (default /var/lib/studio-podman), STUDIO_PODMAN_RESET=1 to wipe the store when its
# settings changed (podman hangs on a store whose settings changed under it).
set -euo pipefail

CTR=${STUDIO_PODMAN_DIR:-/var/lib/studio-podman}
MINBASE=localhost/debian-minbase:bookworm
PYTHON_BASE=localhost/studio-python:3.11
SOCKET=$CTR/podman.sock
PACKAGES=(podman runc conmon containernetworking-plugins catatonit iptables debootstrap curl)

say() { printf 'podman-setup: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (rootful podman is the set-up that works on these machines)"
[[ $CTR == /* ]] || die "STUDIO_PODMAN_DIR must be an absolute path (the store's settings hold it)"
mkdir -p "$CTR/conf"
began=$SECONDS
# Two CI jobs starting at once on one machine: the second waits for the first, then finds everything done.
exec 9>"$CTR/setup.lock"
flock 9

# podman reads its settings from these two files; the service process inherits them from this script.
export CONTAINERS_CONF=$CTR/conf/containers.conf CONTAINERS_STORAGE_CONF=$CTR/conf/storage.conf

install_packages() {
  local missing=() package
  for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$package")
  done
  [[ ${#missing[@]} == 0 ]] && return
  say "installing ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Writes $1 from stdin when its content differs. A store must never see its storage settings (driver, graphroot,
# runroot, tmp_dir) change after first use: every `podman run` would then hang. Such a change to a used store stops
# here unless STUDIO_PODMAN_RESET=1 wipes the store; any other change (the ulimits follow this shell's hard limit)
# is written, and the service restarted to read it.
SETTINGS_CHANGED=0
store_lines() { grep -E '^[[:space:]]*(driver|graphroot|runroot|tmp_dir)[[:space:]]*=' || true; }
write_setting() {
  local path=$1 wanted
  wanted=$(cat)
  [[ -f $path && $(cat "$path") == "$wanted" ]] && return
  if [[ -f $path && -d $CTR/storage && $(store_lines <"$path") != $(store_lines <<<"$wanted") ]]; then
    [[ ${STUDIO_PODMAN_RESET:-} == 1 ]] ||
      die "the storage settings in $path would change under a used store; rerun with STUDIO_PODMAN_RESET=1 to wipe it"
    say "storage settings changed: wiping the store (STUDIO_PODMAN_RESET=1)"
    stop_service
    podman system reset --force >&2 || true
    rm -rf "$CTR/storage" "$CTR/run" "$CTR/libpod-tmp"
  fi
  printf '%s\n' "$wanted" >"$path.tmp" && mv "$path.tmp" "$path"
  SETTINGS_CHANGED=1
}

write_settings() {
  # ulimits: the VM lacks CAP_SYS_RESOURCE, so a container may not ask for more than this shell's hard limit.
  local nofile
  nofile=$(ulimit -Hn)
  [[ $nofile == unlimited || $nofile -gt 20000 ]] && nofile=20000
  write_setting "$CTR/conf/containers.conf" <<EOF
# Written by scripts/podman-setup.sh.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
# crun refuses this machine's hybrid cgroup layout; there is no systemd to manage cgroups or journald for events.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$CTR/libpod-tmp"
EOF
  write_setting "$CTR/conf/storage.conf" <<EOF
# Written by scripts/podman-setup.sh. Never edit a used store's settings: wipe it (podman system reset) instead.
[storage]
driver = "overlay"
graphroot = "$CTR/storage"
runroot = "$CTR/run"
EOF
}

socket_answers() { [[ -S $SOCKET ]] && [[ $(curl -s --max-time 3 --unix-socket "$SOCKET" http://d/_ping) == OK ]]; }

stop_service() {
  local pid
  pid=$(cat "$CTR/service.pid" 2>/dev/null) || return 0
  # Only the process this script started (its pid file), and only while it still is that service (pids are reused).
  if [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "system service --time=0 unix://$SOCKET"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$CTR/service.pid"
}

start_service() {
  if [[ $SETTINGS_CHANGED == 1 ]]; then
    stop_service  # it read the settings at its start
  elif socket_answers; then
    return
  fi
  stop_service  # a service that stopped answering
  rm -f "$SOCKET"
  say "starting podman's Docker API on $SOCKET"
  # In its own session, so it outlives this script and the CI step's shell, and holding no descriptor but its log:
  # an inherited pipe would keep a CI step waiting for the service's end, the inherited lock the next set-up.
  # --time=0 keeps it from idling out. The subshell execs setsid, which execs podman: $! is the service's pid.
  (
    for path in "/proc/$BASHPID/fd/"*; do
      fd=${path##*/}
      if [[ $fd -gt 2 ]]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec setsid podman system service --time=0 "unix://$SOCKET"
  ) </dev/null >>"$CTR/service.log" 2>&1 &
  echo $! >"$CTR/service.pid"
  for _ in $(seq 100); do socket_answers && return; sleep 0.2; done
  tail -n 20 "$CTR/service.log" >&2 || true
  die "podman's service did not answer on $SOCKET within 20 s (log: $CTR/service.log)"
}

build_minbase() {
  podman image exists "$MINBASE" && return
  say "building $MINBASE with debootstrap (no registry: the base image is made from Debian's packages)"
  rm -rf "$CTR/rootfs"  # what a killed run left
  debootstrap --variant=minbase bookworm "$CTR/rootfs" >"$CTR/debootstrap.log" 2>&1 ||
    { tail -n 20 "$CTR/debootstrap.log" >&2; die "debootstrap failed (log: $CTR/debootstrap.log)"; }
  rm -rf "$CTR/rootfs/var/cache/apt/archives/"*.deb "$CTR/rootfs/var/lib/apt/lists/"*
  tar -C "$CTR/rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$MINBASE" >&2
  rm -rf "$CTR/rootfs"
}

# The python base: Debian's python3 in a venv at /opt/venv, and this machine's extra CA certificates (a TLS-inspecting
# egress proxy's, here), without which pip inside every image fails its certificate checks. The image carries a hash
# of its recipe and certificates as a label: when either changes, it is built again.
build_python_base() {
  local context=$CTR/python-base digest current previous
  rm -rf "$context" && mkdir -p "$context/certs"
  find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$context/certs/" \; 2>/dev/null || true
  cat >"$context/Dockerfile" <<'EOF'
FROM localhost/debian-minbase:bookworm
ENV DEBIAN_FRONTEND=noninteractive
COPY certs/ /usr/local/share/ca-certificates/
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates \
 && update-ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip --version
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    VIRTUAL_ENV=/opt/venv \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
CMD ["python3"]
EOF
  digest=$(cd "$context" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  current=$(podman image inspect --format '{{index .Labels "studio.base-digest"}}' "$PYTHON_BASE" 2>/dev/null || true)
  [[ $current == "$digest" ]] && return
  previous=$(podman image inspect --format '{{.Id}}' "$PYTHON_BASE" 2>/dev/null || true)
  say "building $PYTHON_BASE (recipe $digest)"
  podman build --label "studio.base-digest=$digest" -t "$PYTHON_BASE" "$context" >"$CTR/python-base.log" 2>&1 ||
    { tail -n 30 "$CTR/python-base.log" >&2; die "building $PYTHON_BASE failed (log: $CTR/python-base.log)"; }
  # The previous recipe's image, now untagged; it stays if a model image still builds on it.
  if [[ -n $previous ]]; then podman rmi "$previous" >/dev/null 2>&1 || true; fi
}

install_packages
write_settings
start_service
build_minbase
build_python_base

{
  echo "export DOCKER_HOST=unix://$SOCKET"
  echo "export STUDIO_CONTAINER_BASE_IMAGE=$PYTHON_BASE"
  # For the podman CLI (debugging, `podman images`): the same store as the service's.
  echo "export CONTAINERS_CONF=$CONTAINERS_CONF CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF"
} | tee "$CTR/env"
say "ready in $((SECONDS - began)) s (the same lines are in $CTR/env)"
