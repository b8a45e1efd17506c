#!/usr/bin/env bash
# Installs stackwatch from this checkout on a Debian or Ubuntu server, the way operators install
# tools that are not packaged: a virtual environment of its own made with the distribution's
# python3 (Debian and Ubuntu refuse system-wide pip installs, PEP 668; --break-system-packages is
# never used), the command linked into /usr/local/bin, an example configuration in /etc/stackwatch
# (an existing one is never touched) and the state directory /var/lib/stackwatch.
# Run again (from a newer checkout) it upgrades in place: the package is replaced, the
# configuration kept. Everything is world-readable so that the unprivileged nagios user (NRPE)
# can run the command.
#
#   ./scripts/install.sh [--prefix DIR] [--bin-dir DIR] [--config-dir DIR] [--state-dir DIR]
#                        [--python PATH]
set -euo pipefail
umask 022

prefix=/opt/stackwatch
bin_dir=/usr/local/bin
config_dir=/etc/stackwatch
state_dir=/var/lib/stackwatch
python=/usr/bin/python3
source_dir=$(cd "$(dirname "$0")/.." && pwd)
work=""

say() { printf 'install: %s\n' "$*"; }
die() {
  printf 'install: %s\n' "$1" >&2
  exit "${2:-1}"
}
cleanup() { [ -z "$work" ] || rm -rf "$work"; }
trap cleanup EXIT

usage() {
  cat <<EOF
usage: $0 [--prefix DIR] [--bin-dir DIR] [--config-dir DIR] [--state-dir DIR] [--python PATH]

Installs stackwatch from this checkout into a virtual environment (default $prefix), links
BIN_DIR/stackwatch (default $bin_dir), writes an example configuration CONFIG_DIR/stackwatch.toml
unless one exists (default $config_dir) and makes the state directory (default $state_dir).
Run again, it upgrades in place and keeps the configuration. Needs root, unless every directory
given is writable by you. PATH is the python that makes the environment (default $python).
EOF
}

parse_args() {
  while [ "$#" -gt 0 ]; do
    case "$1" in
      -h | --help) usage; exit 0 ;;
      --prefix | --bin-dir | --config-dir | --state-dir | --python)
        [ "$#" -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)" 2
        set_option "$1" "$2"
        shift 2 ;;
      --prefix=* | --bin-dir=* | --config-dir=* | --state-dir=* | --python=*)
        set_option "${1%%=*}" "${1#*=}"
        shift ;;
      *) die "unknown argument: $1 (see --help)" 2 ;;
    esac
  done
}

set_option() {
  [ -n "$2" ] || die "$1 needs a value (see --help)" 2
  local value
  value=$(realpath -m -- "$2")
  case "$1" in
    --prefix) prefix=$value ;;
    --bin-dir) bin_dir=$value ;;
    --config-dir) config_dir=$value ;;
    --state-dir) state_dir=$value ;;
    --python) python=$(command -v -- "$2" || printf '%s' "$2") ;;
  esac
}

# The nearest directory that exists at or above $1: where creating $1 needs write access.
existing_parent() {
  local dir=$1
  while [ ! -e "$dir" ]; do dir=$(dirname "$dir"); done
  printf '%s\n' "$dir"
}

# Root installs anywhere; anyone else only where every directory given is theirs to write.
require_rights() {
  [ "$(id -u)" -eq 0 ] && return 0
  local dir blocked=()
  for dir in "$prefix" "$bin_dir" "$config_dir" "$state_dir"; do
    [ -w "$(existing_parent "$dir")" ] || blocked+=("$dir")
  done
  [ "${#blocked[@]}" -eq 0 ] && return 0
  die "run as root (sudo $0), or point --prefix, --bin-dir, --config-dir and --state-dir at\
 directories you can write; not writable here: ${blocked[*]}"
}

require_python() {
  [ -x "$python" ] || die "no $python: install python3 first (apt-get install python3 python3-venv)"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "stackwatch needs Python 3.11 or newer; $python is $("$python" -V 2>&1)"
  "$python" -c 'import ensurepip, venv' 2>/dev/null && return 0
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null ||
    die "$python cannot make virtual environments: install python3-venv (as root: apt-get install python3-venv)"
  say "installing python3-venv (apt-get), which makes virtual environments"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  "$python" -c 'import ensurepip, venv' 2>/dev/null ||
    die "$python still cannot make virtual environments after installing python3-venv"
}

# An environment already at the prefix that runs the same python version is reused (upgrade in
# place); one made by another version (after a distribution upgrade) is made again. A prefix that
# holds anything but a virtual environment is refused: making one there would clear it.
make_environment() {
  local version='import sys; print(sys.version_info[:2])'
  if [ -f "$prefix/pyvenv.cfg" ] &&
    [ "$("$prefix/bin/python" -c "$version" 2>/dev/null)" = "$("$python" -c "$version")" ]; then
    say "upgrading the installation in $prefix"
    return 0
  fi
  if [ -e "$prefix" ] && [ ! -f "$prefix/pyvenv.cfg" ] && [ -n "$(ls -A "$prefix")" ]; then
    die "$prefix exists and is not a virtual environment; choose another --prefix"
  fi
  say "making the virtual environment $prefix with $python ($("$python" -V 2>&1))"
  "$python" -m venv --clear "$prefix"
}

# pip builds from a copy: building in the checkout would leave build/ and *.egg-info there, and
# setuptools would put files deleted since an earlier build into the new wheel.
install_package() {
  work=$(mktemp -d)
  tar -C "$source_dir" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -C "$work" -xf -
  say "installing stackwatch and what it needs into $prefix (pip)"
  # pip always replaces a package installed from a directory, even at the same version; the
  # dependencies are fetched only where missing or too old.
  "$prefix/bin/python" -m pip install -q --disable-pip-version-check --upgrade "$work"
  chmod -R a+rX "$prefix"
}

link_command() {
  local target=$prefix/bin/stackwatch link=$bin_dir/stackwatch
  mkdir -p "$bin_dir"
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    say "replacing $link (an earlier installation, not a link)"
  fi
  # a new link renamed over the old one: the command never disappears, even for a moment
  ln -sfn "$target" "$link.new.$$"
  mv -fT "$link.new.$$" "$link"
}

write_example_config() {
  local config=$config_dir/stackwatch.toml tmp
  mkdir -p "$config_dir"
  if [ -e "$config" ]; then
    say "keeping the configuration $config"
    return 0
  fi
  tmp=$(mktemp "$config_dir/.stackwatch.toml.XXXXXX")
  if ! "$prefix/bin/stackwatch" config example >"$tmp"; then
    rm -f "$tmp"
    die "the installed stackwatch could not write an example configuration (stackwatch config example)"
  fi
  chmod 0644 "$tmp"
  mv -n "$tmp" "$config"
  rm -f "$tmp"
  say "wrote an example configuration $config (every key commented, its default)"
}

# Warn where a directory above the prefix keeps other users (nagios, NRPE) from reaching it.
check_reachable() {
  local dir=$prefix
  while [ "$dir" != / ]; do
    dir=$(dirname "$dir")
    if [ "$(($(stat -c '%#a' "$dir") & 1))" -eq 0 ]; then
      say "warning: $dir is not searchable by other users: nagios cannot run $prefix/bin/stackwatch"
      return 0
    fi
  done
}

report() {
  local version found
  version=$("$prefix/bin/python" -c 'from importlib.metadata import version; print(version("stackwatch"))')
  "$bin_dir/stackwatch" checks >/dev/null || die "the installed $bin_dir/stackwatch does not run"
  say "stackwatch $version installed: $bin_dir/stackwatch -> $prefix/bin/stackwatch"
  say "state kept in $state_dir; NRPE: command[stackwatch]=$bin_dir/stackwatch check --format nagios"
  found=$(type -P stackwatch || true)
  if [ -n "$found" ] && [ "$(realpath "$found")" != "$(realpath "$prefix/bin/stackwatch")" ]; then
    say "note: 'stackwatch' on this PATH is $found, not this installation"
  fi
}

main() {
  parse_args "$@"
  require_rights
  require_python
  make_environment
  install_package
  link_command
  write_example_config
  mkdir -p "$state_dir"
  check_reachable
  report
}

main "$@"
