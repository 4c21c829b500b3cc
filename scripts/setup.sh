#!/usr/bin/env bash
# Install everything hardening and its tests need on a fresh Debian machine (run as root).
# Idempotent: a second run installs nothing new. Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    zstd             # compresses the cached testbed images
    debootstrap      # builds the testbed's Debian 12 root filesystem (cached afterwards)
    iproute2         # network namespaces and veth pairs for testbed hosts
    socat            # forwards the Debian mirror to testbed hosts for apt
    openssh-client   # `hardening testbed ssh`
    nftables         # nft for ruleset fixtures and validation on the control node
    util-linux       # unshare, mount
    mount            # losetup: loop devices for the LUKS volume test (SEC-09)
    cryptsetup-bin   # cryptsetup: the LUKS volume operation's test on a loop device
    e2fsprogs        # mkfs.ext4 (the LUKS test's refusal of a device with data)
    ca-certificates
    ssh-audit        # independent verifier of the SSH hardening (tests)
    prometheus       # promtool: validates and unit-tests the alert rules (tests)
    testssl.sh       # independent verifier of nginx's TLS configuration (tests)
    chromium         # headless browser of the FE-07/FE-08 probe (driven by playwright)
)

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: apt-get install ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "setup: pip install -e .[test]" >&2
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e '.[test]'
python3 -c "import hardening, pyinfra; print('setup: hardening', hardening.__version__, '/ pyinfra', pyinfra.__version__)" >&2
