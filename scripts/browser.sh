#!/usr/bin/env bash
# `make browser`: Debian's Chromium for the browser tests (tests/browser), installed when
# missing: as root with apt-get, else with sudo; otherwise it says what to run, and fails.
# Playwright's own browser download is not used: it needs a network beyond the package mirror.
set -euo pipefail

for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
    if [[ -x $candidate ]]; then
        exit 0
    fi
done

install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
update=(apt-get update -qq)
if [[ $(id -u) -eq 0 ]]; then
    as=()
elif command -v sudo > /dev/null; then
    as=(sudo)
else
    echo "The browser tests need Debian's Chromium, and installing it needs root. As root, run:" >&2
    echo "    apt-get update && apt-get install -y chromium" >&2
    exit 1
fi

echo "Installing Debian's chromium for the browser tests"
"${as[@]}" "${install[@]}" > /dev/null \
    || { "${as[@]}" "${update[@]}" && "${as[@]}" "${install[@]}" > /dev/null; }
