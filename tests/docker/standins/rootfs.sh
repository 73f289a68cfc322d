#!/usr/bin/env bash
# A Debian root file system as a Docker image, the first layer of every stand-in base image:
#
#   tests/docker/standins/rootfs.sh SUITE TAG
#
# debootstrap --variant=minbase SUITE, with Python 3 and the CA bundle, then `docker import` as
# TAG (one layer). Public base images cannot be pulled on these machines; Debian's archive can
# be reached. The machine's own CA certificates (/usr/local/share/ca-certificates) are added to
# the bundle, and pip is told to use it: pip in the image builds reaches PyPI only through it.
set -euo pipefail

suite=$1
tag=$2
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d "${TMPDIR:-/tmp}/klue-rootfs-$suite.XXXXXX")
trap 'rm -rf "$root"' EXIT
command -v debootstrap >/dev/null || {
    echo "rootfs.sh: debootstrap is not installed (Debian: apt-get install debootstrap)" >&2
    exit 1
}

debootstrap --variant=minbase --include=ca-certificates,python3,python3-venv \
    "$suite" "$root" "$mirror" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"

if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
fi
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"
# Smaller image: apt's lists and caches are fetched again by whoever installs more.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb

# mktemp made the folder 0700; as the image's / it would lock every user but root out.
chmod 0755 "$root"
tar --numeric-owner -C "$root" -c . \
    | docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$tag" >/dev/null
echo "rootfs: $tag ($suite)"
