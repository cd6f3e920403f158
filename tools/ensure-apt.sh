#!/bin/sh
# Install the Debian packages listed in tools/apt-packages.txt that are not installed yet.
# Idempotent: does nothing (and touches no network) when everything is present.
set -eu
list="$(dirname "$0")/apt-packages.txt"
missing=""
for pkg in $(sed -e 's/#.*//' "$list"); do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "ensure-apt: missing Debian packages:$missing (run as root to install them)" >&2
    exit 1
fi
echo "ensure-apt: installing$missing" >&2
apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
