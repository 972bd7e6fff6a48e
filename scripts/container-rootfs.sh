#!/usr/bin/env bash
# container-rootfs.sh -- the whole runtime filesystem of memoscope's image,
# made from the binary itself (the Dockerfile's build stage runs it; the
# runtime stage is FROM scratch and copies ROOTFS as it is).
#
#   scripts/container-rootfs.sh BINARY ROOTFS UID
#
# ROOTFS gets:
#   /usr/local/bin/memoscope     BINARY
#   its loader                   the path in its PT_INTERP (readelf -l)
#   the libraries it loads       every path ldd resolves, at that path (the
#                                loader searches the same directories there)
#   /etc/passwd, /etc/group      one unprivileged user and group, id UID
#   /etc/nsswitch.conf           hosts: files dns (see below)
# and nothing else: no shell, no package manager, no setuid file. Every file
# is owned by root and read-only to UID.
#
# Host names (a --redis-url host): glibc 2.34 and later have the files and
# dns lookups built in, so getaddrinfo loads no NSS module; nsswitch.conf
# only fixes their order, /etc/hosts first (the container engine provides
# /etc/hosts and /etc/resolv.conf). Without it glibc asks DNS first and reads
# /etc/hosts only when no DNS server answers at all. A library that is dlopen()ed (ldd cannot see
# it) would be missed: the image's tests run the server, the probe and a
# Redis host name in the image itself.
set -euo pipefail

[ $# = 3 ] || {
    echo "usage: $0 BINARY ROOTFS UID" >&2
    exit 2
}
bin=$1 root=$2 uid=$3

interp=$(readelf -l "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
[ -n "$interp" ] || {
    echo "container-rootfs: $bin names no program interpreter (a static binary needs none of this)" >&2
    exit 1
}
libs=$(ldd "$bin")
if grep -q 'not found' <<<"$libs"; then
    echo "container-rootfs: $bin needs libraries that are not here:" >&2
    grep 'not found' <<<"$libs" >&2
    exit 1
fi

# copy FILE: FILE's content (symbolic links followed) at the same path in ROOTFS.
copy() {
    install -D -m 0755 -o 0 -g 0 "$(readlink -f "$1")" "$root$1"
    echo "container-rootfs: $1 ($(stat -L -c %s "$1") bytes)"
}

rm -rf "$root"
install -D -m 0755 -o 0 -g 0 "$bin" "$root/usr/local/bin/memoscope"
copy "$interp"
# "libfoo.so.1 => /lib/.../libfoo.so.1 (0x...)"; the vDSO has no file.
for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$libs"); do
    copy "$lib"
done

install -d -m 0755 "$root/etc"
printf 'memoscope:x:%s:%s:memoscope:/nonexistent:/sbin/nologin\n' "$uid" "$uid" >"$root/etc/passwd"
printf 'memoscope:x:%s:\n' "$uid" >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"
echo "container-rootfs: $(find "$root" -type f | wc -l) files, $(du -sb "$root" | cut -f1) bytes"
