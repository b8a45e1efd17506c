#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine: the real services the
# integration tests start themselves (Open vSwitch, Apache, nginx, MariaDB, sshd), the tools the
# checks call (smartctl, modinfo), the peers the benchmarks compare against, and the Python
# package with its test extras. Services are installed but not started: the tests start their own,
# bound to 127.0.0.1, and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
packages=(
  iproute2 kmod procps conntrack nftables
  openvswitch-switch openvswitch-testcontroller
  apache2 nginx goaccess
  mariadb-server mariadb-client
  openssh-server openssh-client rsync
  smartmontools monitoring-plugins-basic
  zstd gzip pigz
  prometheus prometheus-node-exporter
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # Keep package scripts from starting the daemons (apache2 and nginx would both want port 80 on
  # every address); the tests start their own on loopback.
  policy_created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
