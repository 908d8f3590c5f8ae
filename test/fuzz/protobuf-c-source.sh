#!/bin/sh
# Unpacks Debian's protobuf-c source (the same version the build links) into $1, so the fuzzer can
# compile the decoder with coverage instrumentation: with the shared library the fuzzer is blind
# inside protobuf_c_message_unpack. Uses a private apt list; the system's sources are not touched.
set -eu
out=$1
[ -f "$out/protobuf-c/protobuf-c.c" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
    > "$work/sources.list"
apt_opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$work/lists"
version=$(dpkg-query -W -f='${source:Version}' libprotobuf-c-dev)
apt-get $apt_opts update -qq
(cd "$work" && apt-get $apt_opts source --download-only "protobuf-c=$version" >/dev/null 2>&1)
mkdir -p "$out"
tar -xzf "$work"/protobuf-c_*.orig.tar.gz -C "$out" --strip-components=1
test -f "$out/protobuf-c/protobuf-c.c"
