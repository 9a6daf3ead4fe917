#!/bin/sh
# Installs the Debian packages pipeline needs that are missing; does nothing
# when all are present. Usage: install-deps.sh [build|test|bench]...
set -eu

build="gcc make pkg-config libarchive-dev libzstd-dev libopenblas-serial-dev
libcurl4-openssl-dev libinih-dev libpng-dev libjpeg62-turbo-dev
libjansson-dev nettle-dev zlib1g-dev libfreetype-dev fonts-dejavu-core
libmicrohttpd-dev libprotobuf-c-dev protobuf-c-compiler libhiredis-dev"
test="$build clang libclang-rt-14-dev python3 python3-pil python3-sklearn
python3-jsonschema python3-yaml python3-numpy strace cppcheck clang-tidy
valgrind wrk python3-onnx nodejs openmpi-bin libopenmpi-dev redis-server"
bench="$test python3-torch python3-flask time python3-redis"

want=""
[ $# -eq 0 ] && set -- build
for profile in "$@"; do
	case "$profile" in
	build) want="$want $build" ;;
	test) want="$want $test" ;;
	bench) want="$want $bench" ;;
	*) echo "install-deps: unknown profile '$profile' (build, test, bench)" >&2; exit 2 ;;
	esac
done

missing=""
for pkg in $want; do
	case " $missing " in *" $pkg "*) continue ;; esac
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
