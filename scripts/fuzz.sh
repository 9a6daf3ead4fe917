#!/bin/sh
# Builds every libFuzzer target in tests/fuzz/*.c and runs each for SECONDS.
# The pipeline's library (io/ nn/ stages/) is built once with clang and
# -fsanitize=fuzzer-no-link,address,undefined into build-fuzz/, and each
# target is linked against it (this covers the build line in each target's
# header comment). Each target is seeded from tests/corpus/<name>/ (name =
# the target without "fuzz_") plus seeds generated here (a trained model, a
# package, config files); new corpus entries stay in build-fuzz/corpus/.
# Any crash input is copied into tests/corpus/<name>/ as a regression file.
# Prints one line per target: executions, corpus size, crashes.
# Usage: scripts/fuzz.sh [SECONDS]   (FUZZ_TARGETS="img csv" picks targets)
set -u
secs=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
out=build-fuzz
cc=${FUZZ_CC:-clang}
py=/usr/bin/python3
# the libraries of the Makefile's PKGS, and the headers of libcurl and
# libmicrohttpd (opened with dlopen)
pkgs="$(sed -n 's/^PKGS *:= *//p' Makefile) libcurl libmicrohttpd"
blas_pc=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/openblas-serial/pkgconfig
blas_dir=$(PKG_CONFIG_PATH=$blas_pc pkg-config --variable=libdir openblas 2>/dev/null)
flags="-g -O1 -std=c11 -D_GNU_SOURCE -march=x86-64-v2 -fno-omit-frame-pointer \
 -fsanitize=address,undefined -fno-sanitize-recover=all \
 -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -I$out/gen \
 $(pkg-config --cflags $pkgs) $(PKG_CONFIG_PATH=$blas_pc pkg-config --cflags openblas)"
libs="$(pkg-config --libs $pkgs) -L$blas_dir -Wl,-rpath,$blas_dir -lopenblas -lm -lpthread"

command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (apt-get install clang libclang-rt-14-dev)"; exit 2; }

# 1. the library, rebuilt only where a source is newer than its object
mkdir -p "$out/obj" "$out/corpus" "$out/crash" "$out/gen" || exit 1
# the protobuf-c code of every *.proto, generated as the Makefile does (all
# of it first: one generated header may include another's)
objs=''
for proto in io/*.proto stages/*.proto stages/*/*.proto; do
	[ -f "$proto" ] || continue
	base=$(basename "$proto" .proto)
	if [ ! -f "$out/gen/$base.pb-c.c" ] || [ "$proto" -nt "$out/gen/$base.pb-c.c" ]; then
		protoc-c --c_out="$out/gen" --proto_path="$(dirname "$proto")" "$proto" ||
			{ echo "fuzz: cannot run protoc-c on $proto"; exit 1; }
	fi
done
for proto in io/*.proto stages/*.proto stages/*/*.proto; do
	[ -f "$proto" ] || continue
	base=$(basename "$proto" .proto)
	$cc $flags -Wno-unused-parameter -fsanitize=fuzzer-no-link -c -o "$out/obj/gen_$base.pb-c.o" \
		"$out/gen/$base.pb-c.c" || exit 1
	objs="$objs $out/obj/gen_$base.pb-c.o"
done
for src in io/*.c nn/*.c stages/*.c stages/*/*.c; do
	obj=$out/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
	if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find io nn stages -name '*.h' -newer "$obj" | head -n 1)" ]; then
		$cc $flags -fsanitize=fuzzer-no-link -c -o "$obj" "$src" || { echo "fuzz: cannot build $src"; exit 1; }
	fi
	objs="$objs $obj"
done
rm -f "$out/libpipeline-fuzz.a"
ar rcs "$out/libpipeline-fuzz.a" $objs || exit 1

# 2. generated seeds: a model and a package from a tiny run, config files
seeds=$out/seeds
if [ ! -f "$seeds/.done" ]; then
	rm -rf "$seeds"; mkdir -p "$seeds/model" "$seeds/serve" "$seeds/config"
	cp pipeline.ini "$seeds/config/" 2>/dev/null
	printf '[dataset]\nsource = data\n[prepare]\nsize = 8\n' >"$seeds/config/minimal.ini"
	printf '[train]\nlr = 1e-3\nepochs = 2\n[model]\nlayers = conv 4 3 pad 1, bn, relu, dropout 0.5, gap, dense\n' >"$seeds/config/model.ini"
	bin=${PIPELINE:-$root/pipeline}
	if [ -x "$bin" ]; then
		w=$(mktemp -d /tmp/plfuzz-XXXXXX)
		"$py" - "$w/data" <<'EOF'
import os, sys
from PIL import Image
for k, c in enumerate("ab"):
    os.makedirs(os.path.join(sys.argv[1], c))
    for i in range(8):
        Image.new("L", (8, 8), 50 + 100 * k + i).save(os.path.join(sys.argv[1], c, "%d.png" % i))
EOF
		printf '[dataset]\nsource = %s/data\n[prepare]\nsize = 8\n[model]\nlayers = conv 2 3 pad 1, relu, maxpool 2, dense\n[train]\nepochs = 1\nthreads = 1\n[validate]\nmin_value = 0\n' "$w" >"$w/c.ini"
		if "$bin" run --workspace "$w/ws" --config "$w/c.ini" >/dev/null 2>&1; then
			cp "$w/ws/train/model.pnn" "$seeds/model/"
			cp "$w"/ws/package/*.tar.zst "$seeds/serve/"
		else
			echo "fuzz: could not make model/package seeds with $bin"
		fi
		rm -rf "$w"
	else
		echo "fuzz: no $bin: the model and serve targets start without generated seeds"
	fi
	touch "$seeds/.done"
fi

# 3. each target: build, run, collect crashes
total_crashes=0
for t in tests/fuzz/fuzz_*.c; do
	name=$(basename "$t" .c); short=${name#fuzz_}
	case " ${FUZZ_TARGETS:-$short} " in *" $short "*) ;; *) continue ;; esac
	if ! $cc $flags -fsanitize=fuzzer -o "$out/$name" "$t" "$out/libpipeline-fuzz.a" $libs 2>"$out/$name.build.log"; then
		echo "$name: BUILD FAILED"; head -n 20 "$out/$name.build.log"; total_crashes=$((total_crashes + 1)); continue
	fi
	corpus=$out/corpus/$short
	mkdir -p "$corpus" "$out/crash/$short"
	regress=''
	[ -d "tests/corpus/$short" ] && regress="$root/tests/corpus/$short"
	[ -d "$seeds/$short" ] && cp -r "$seeds/$short/." "$corpus/" 2>/dev/null
	rm -f "$corpus/.done"
	(cd "$out/crash/$short" && ASAN_OPTIONS=detect_leaks=1 "../../$name" -max_total_time="$secs" \
		-rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
		-artifact_prefix=./ "../../corpus/$short" $regress >log.txt 2>&1)
	log=$out/crash/$short/log.txt
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	crashes=0
	for c in "$out/crash/$short"/crash-* "$out/crash/$short"/leak-* "$out/crash/$short"/timeout-* "$out/crash/$short"/oom-*; do
		[ -f "$c" ] || continue
		crashes=$((crashes + 1))
		h=$(sha256sum "$c" | cut -c1-12)
		mkdir -p "tests/corpus/$short"
		# a regression file already holding these bytes is not copied again
		if ! sha256sum tests/corpus/"$short"/* 2>/dev/null | cut -c1-12 | grep -q -x "$h"; then
			cp "$c" "tests/corpus/$short/fuzz-$(basename "$c" | cut -d- -f1)-$h"
		fi
		rm -f "$c"
	done
	if [ "$crashes" -gt 0 ]; then
		grep -m 1 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error' "$log" | head -c 300; echo
	fi
	total_crashes=$((total_crashes + crashes))
	echo "$name: ${execs:-0} executions in ${secs} s, corpus $(ls "$corpus" | wc -l), crashes $crashes"
done
echo "fuzz: $total_crashes crashes"
[ "$total_crashes" -eq 0 ]
