#!/usr/bin/env bash
# Make sure Debian/Ubuntu packages are installed: `scripts/debian-packages.sh PACKAGE...`.
# Installs the missing ones with apt-get as root, or through sudo; otherwise prints the exact
# command to run and fails. Installed packages cost one dpkg query each.
set -euo pipefail

missing=()
for package in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

# Recommends left out: they would bring the whole Docker engine with docker-compose (46 packages
# for its 16), mail and cron with PostgreSQL; nothing here uses them.
command="apt-get install -y --no-install-recommends ${missing[*]}"
if ! command -v apt-get > /dev/null; then
    echo "Needs ${missing[*]}, and this is not a Debian/Ubuntu machine: install them yourself." >&2
    exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo > /dev/null; then
    as_root=(sudo)
else
    echo "Needs Debian packages ${missing[*]}. Run:  sudo $command" >&2
    exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet: update once when the install cannot find one.
install=(apt-get install -y -qq --no-install-recommends "${missing[@]}")
"${as_root[@]}" "${install[@]}" > /dev/null \
    || { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" "${install[@]}" > /dev/null; }
