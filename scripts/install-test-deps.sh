#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine: the real services the
# integration tests start themselves (Open vSwitch, Apache, nginx, MariaDB, sshd, NRPE), the tools
# the checks call (smartctl, modinfo), the peers the benchmarks compare against, and the Python
# package with its test extras in a virtual environment of its own (.venv in the checkout, made
# with the distribution's python3: Debian refuses system-wide pip installs, PEP 668).
# Services are installed but not started: the tests start their own, bound to 127.0.0.1, and stop
# them. scripts/run-tests.sh runs everything with .venv/bin/python.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${STACKWATCH_PYTHON:-/usr/bin/python3}
VENV=.venv

export DEBIAN_FRONTEND=noninteractive
packages=(
  iproute2 kmod procps conntrack nftables
  openvswitch-switch openvswitch-testcontroller
  apache2 nginx goaccess
  mariadb-server mariadb-client
  openssh-server openssh-client rsync
  smartmontools monitoring-plugins-basic
  nagios-nrpe-server nagios-nrpe-plugin
  zstd gzip pigz
  python3 python3-venv
  prometheus prometheus-node-exporter
)
# nagios (issue 14): Nagios Core for `nagios4 -v` and a real daemon in the nagios tests.
packages+=(nagios4-core)
# switch: snmpget/snmpbulkwalk (tests and the benchmark's loop), snmpd (counters that move),
# lldpd (the hypervisor's side of LLDP), check_snmp_int.pl (nagios-snmp-plugins, the benchmark)
packages+=(snmp snmpd lldpd nagios-snmp-plugins)
# network runbooks (issue 16): captures, the broken router (TCPOPTSTRIP), redirects, throughput.
packages+=(tcpdump iptables nftables iperf3 iputils-tracepath)
# hostbooks (issue 17): lvm2 for the drbd-lvm tests (real vgs/lvmconfig on a loop device), fio
# for storage baselines; drbd-utils for drbdsetup where a drbd kernel module exists; ifupdown
# (ifup --no-act) and netplan.io (netplan generate) accept the files ipalias writes.
packages+=(lvm2 drbd-utils fio ifupdown netplan.io)
# image (issue 18): qemu-img for image import|check and for the test appliances.
packages+=(qemu-utils)
# ovs kmod guard (issue 20): the real grub-editenv changes fixture trees' grubenv
packages+=(grub-common)
# weblog report (issue 15): detect --html is opened in a real headless browser by its test;
# fonts-dejavu-core gives the page and the picture the same readable font everywhere
packages+=(chromium fonts-dejavu-core)
# backup (issue 12): method = "physical" and its verify/restore (mariadb-backup, mbstream)
packages+=(mariadb-backup)
# nova (issue 19): the message queue of the real Nova in tests/integration/nova (started by the
# test on 127.0.0.1 with its own epmd and node name; the package's own service is never started)
packages+=(rabbitmq-server)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # Keep package scripts from starting the daemons (apache2 and nginx would both want port 80 on
  # every address, nagios-nrpe-server port 5666); the tests start their own on loopback.
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

# A virtual environment that no longer runs, or was made by another python version (after an
# upgrade of the distribution), is made again rather than patched.
venv_usable() {
  local version='import sys; print(sys.version_info[:2])'
  [ -x "$VENV/bin/python" ] &&
    [ "$("$VENV/bin/python" -c "$version" 2>/dev/null)" = "$("$PYTHON" -c "$version")" ]
}
venv_usable || "$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'

# nagios (issue 14): StatsD (npm) and Graphite's carbon-cache for `nagios alerts --statsd`, read
# back from whisper files. GRAPHITE_NO_PREFIX keeps carbon out of /opt/graphite (its default).
if command -v npm >/dev/null && [ ! -e "$(npm root -g)/statsd/stats.js" ]; then
  npm install -g -s statsd@0.9.0
fi
GRAPHITE_NO_PREFIX=True "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  carbon==1.1.10 whisper==1.1.10

# image (issue 18): a real Glance for tests/integration/image, in a virtual environment of its
# own (.venv-glance) so that its pinned OpenStack dependencies never meet the project's; the
# tests run glance-manage and gunicorn from it. Made again like .venv when it no longer runs.
GLANCE_VENV=.venv-glance
if ! { [ -x "$GLANCE_VENV/bin/gunicorn" ] && [ -x "$GLANCE_VENV/bin/glance-manage" ] &&
  "$GLANCE_VENV/bin/python" -c 'import glance.wsgi' 2>/dev/null; }; then
  "$PYTHON" -m venv --clear "$GLANCE_VENV"
  "$GLANCE_VENV/bin/python" -m pip install -q --disable-pip-version-check glance==33.0.0 gunicorn==27.0.1
fi

# nova (issue 19): a real Nova for tests/integration/nova, in a virtual environment of its own
# (.venv-nova: its pinned OpenStack dependencies never meet the project's): nova-api (gunicorn),
# conductor, scheduler, two fake-driver computes, nova-novncproxy, and placement; PyMySQL for
# MariaDB. Images come from the Glance above. Made again like .venv when it no longer runs.
NOVA_VENV=.venv-nova
if ! { [ -x "$NOVA_VENV/bin/nova-compute" ] && [ -x "$NOVA_VENV/bin/placement-manage" ] &&
  "$NOVA_VENV/bin/python" -c 'import nova.virt.fake, placement.deploy, pymysql' 2>/dev/null; }; then
  "$PYTHON" -m venv --clear "$NOVA_VENV"
  "$NOVA_VENV/bin/python" -m pip install -q --disable-pip-version-check \
    nova==34.0.0 openstack-placement==16.0.0 PyMySQL gunicorn==27.0.1
fi
