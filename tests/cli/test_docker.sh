#!/bin/sh
# The Dockerfile, checked without docker: every shared library the binary
# loads (ldd $PIPELINE) belongs to a Debian package that the runtime stage
# installs, that one of those depends on, or that debian:bookworm-slim
# already ships; the build stage installs what scripts/install-deps.sh
# lists; the image runs as a numeric non-root user with ENTRYPOINT pipeline.
. "$(dirname "$0")/lib.sh"

root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
dockerfile=$root/Dockerfile

# What debian:bookworm-slim ships (its libraries and their users), so a
# library from one of these needs no install line.
base_packages="libc6 libc-bin libgcc-s1 gcc-12-base libstdc++6 zlib1g libzstd1
liblzma5 libbz2-1.0 liblz4-1 libacl1 libattr1 libselinux1 libpcre2-8-0
libgnutls30 libnettle8 libhogweed6 libgmp10 libidn2-0 libunistring2 libtasn1-6
libp11-kit0 libffi8 libcrypt1 libgcrypt20 libgpg-error0 libsystemd0 libudev1
libcap2 libcap-ng0 libaudit1 libaudit-common libxxhash0 libseccomp2 libtinfo6
libmd0 libdb5.3 libsemanage2 libsepol2 libuuid1 libblkid1 libmount1
libsmartcols1 libcom-err2 libss2 libext2fs2 libpam0g libpam-modules
libdebconfclient0 libapt-pkg6.0 debconf"

# stage_packages FILE: "STAGE PACKAGE" for each package an apt-get install in
# FILE installs; STAGE counts FROM lines from 1. Joins continued lines.
stage_packages() {
	awk '
	/^[ \t]*#/ { next }
	/\\[ \t]*$/ { sub(/\\[ \t]*$/, ""); buf = buf " " $0; next }
	{ line = buf " " $0; buf = ""
	  if (line ~ /^[ \t]*FROM[ \t]/) { stage++; next }
	  if (line !~ /^[ \t]*RUN[ \t]/) next
	  n = split(line, w, /[ \t]+/); on = 0
	  for (i = 1; i <= n; i++) {
		if (w[i] == "&&" || w[i] == "||" || w[i] == ";" || w[i] == "|") { on = 0; continue }
		if ((w[i - 1] == "apt-get" || w[i - 1] == "apt") && w[i] == "install") { on = 1; continue }
		if (!on || w[i] == "" || w[i] ~ /^-/) continue
		p = w[i]; sub(/;$/, "", p); print stage, p
		if (w[i] ~ /;$/) on = 0
	  }
	}' "$1"
}

# runtime_packages FILE: what the last stage of FILE installs, one a line.
runtime_packages() {
	last=$(grep -c '^[[:space:]]*FROM[[:space:]]' "$1")
	stage_packages "$1" | awk -v s="$last" '$1 == s { print $2 }'
}

# owners PATH...: "PATH PACKAGE" for each library file, asking dpkg once; a
# file may be registered under /lib or /usr/lib, or only its target.
owners() {
	for p in "$@"; do
		r=$(readlink -f "$p")
		for q in "$p" "$r"; do echo "/usr${q#/usr}"; echo "${q#/usr}"; done
	done | sort -u >paths.txt
	xargs dpkg -S <paths.txt 2>/dev/null | sed 's/:[a-z0-9]*: / /' >owned.txt
	for p in "$@"; do
		r=$(readlink -f "$p")
		pkg=$(awk -v a="/usr${p#/usr}" -v b="${p#/usr}" -v c="/usr${r#/usr}" -v d="${r#/usr}" \
			'$2 == a || $2 == b || $2 == c || $2 == d { print $1; exit }' owned.txt)
		echo "$p ${pkg:-?}"
	done
}

# closure PKG...: the packages and everything they depend on, as installed here.
closure() {
	todo="$*"; seen=" "
	while [ -n "$todo" ]; do
		fresh=""
		for p in $todo; do
			case "$seen" in *" $p "*) ;; *) seen="$seen$p "; fresh="$fresh $p" ;; esac
		done
		[ -n "$fresh" ] || break
		todo=$(dpkg-query -W -f='${Depends}, ${Pre-Depends}\n' $fresh 2>/dev/null |
			tr ',|' '\n\n' | sed 's/(.*)//; s/:any//; s/[[:space:]]//g' | grep -v '^$' | sort -u)
	done
	echo "$seen"
}

# Every library ldd resolves, with its package; the direct ones marked.
ldd "$PIPELINE" >ldd.txt 2>&1 || fail "ldd $PIPELINE: $(head -c 300 ldd.txt)"
needed=$(readelf -d "$PIPELINE" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
check "the binary needs shared libraries" test -n "$needed"
: >libs.txt
awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' ldd.txt >resolved.txt
owners $(awk '{ print $2 }' resolved.txt) >pkgs.txt
paste -d ' ' resolved.txt pkgs.txt | while read -r soname path _ pkg; do
	direct=0
	for n in $needed; do [ "$n" = "$soname" ] && direct=1; done
	echo "$soname $path $pkg $direct" >>libs.txt
done
check "ldd resolved the libraries" test -s libs.txt
check "every library has a Debian package" test "$(awk '$3 == "?"' libs.txt)" = ""

# libs_missing DOCKERFILE: names each library the runtime stage of
# DOCKERFILE does not provide; fails when there is one.
libs_missing() {
	runtime=" $(runtime_packages "$1" | tr '\n' ' ') "
	base=" $(echo $base_packages) "
	provided=$(closure $(runtime_packages "$1"))
	status=0
	while read -r soname path pkg direct; do
		case "$runtime$base" in *" $pkg "*) continue ;; esac
		if [ "$direct" = 0 ]; then
			case "$provided" in *" $pkg "*) continue ;; esac
		fi
		echo "$soname ($path) is in package $pkg, which the runtime stage does not install"
		status=1
	done <libs.txt
	return $status
}

if libs_missing "$dockerfile" >missing.txt; then ok
else fail "runtime stage misses libraries: $(cat missing.txt)"; fi
check "direct libraries are installed explicitly or in the base image" \
	test "$(awk '$4 == 1' libs.txt | wc -l)" -eq "$(echo "$needed" | grep -cv '^ld-linux')"

# The check can fail: drop from a copy each installed package that holds a
# library the binary needs directly, and the check names that library.
dropped=0
for drop in $(awk '$4 == 1 { print $3 }' libs.txt | sort -u); do
	case " $(runtime_packages "$dockerfile" | tr '\n' ' ') " in *" $drop "*) ;; *) continue ;; esac
	case " $(echo $base_packages) " in *" $drop "*) continue ;; esac
	sed "s/ $drop / /; s/ $drop\$//" "$dockerfile" >Dockerfile.$drop
	run libs_missing Dockerfile.$drop
	lib=$(awk -v p="$drop" '$3 == p { print $1; exit }' libs.txt)
	check "without $drop the check fails" test "$rc" -ne 0
	expect_in "without $drop the check names $lib" out.txt "$lib"
	dropped=$((dropped + 1))
done
check "the binary needs a library the runtime stage installs" test "$dropped" -gt 0

# Two stages: build on bookworm, run on bookworm-slim.
from=$(grep -E '^[[:space:]]*FROM[[:space:]]' "$dockerfile" | awk '{ print $2 }' | tr '\n' ' ')
check "stages: bookworm then bookworm-slim ($from)" test "$from" = "debian:bookworm debian:bookworm-slim "
build=" $(stage_packages "$dockerfile" | awk '$1 == 1 { print $2 }' | tr '\n' ' ') "
wanted=$(sed -n '/^build="/,/"$/p' "$root/scripts/install-deps.sh" | tr -d '"' | sed 's/^build=//')
check "install-deps.sh lists build packages" test -n "$wanted"
for p in $wanted; do
	case "$build" in *" $p "*) ok ;; *) fail "build stage does not install $p" ;; esac
done
for p in libarchive13 libzstd1 libcurl4 libinih1 libpng16-16 \
	libjpeg62-turbo libjansson4 libnettle8 libfreetype6 fonts-dejavu-core ca-certificates \
	openmpi-bin libhiredis0.14; do
	case " $(runtime_packages "$dockerfile" | tr '\n' ' ') " in
	*" $p "*) ok ;; *) fail "runtime stage does not install $p" ;; esac
done
check "runtime stage installs no -dev package" test -z "$(runtime_packages "$dockerfile" | grep -- '-dev$')"
check "build runs make pipeline" grep -q 'RUN make pipeline' "$dockerfile"
check "binary copied from the build stage" grep -q '^COPY --from=build /src/pipeline /usr/local/bin/pipeline' "$dockerfile"
# What the runtime stage copies out of the build stage must exist: the
# binary is built there, everything else comes from the tree.
for src in $(awk '$1 == "COPY" && $2 == "--from=build" { print $3 }' "$dockerfile"); do
	case "$src" in
	/src/pipeline) ok ;;
	/src/*) check "COPY source ${src#/src/} is in the tree" test -e "$root/${src#/src/}" ;;
	*) fail "COPY --from=build of '$src' from outside /src" ;;
	esac
done
user=$(awk '$1 == "USER" { u = $2 } END { print u }' "$dockerfile")
check "numeric non-root USER ($user)" sh -c 'case "$1" in 0|0:*|root*|"") exit 1 ;; *[!0-9:]*) exit 1 ;; esac' - "$user"
check "ENTRYPOINT is pipeline" grep -q '^ENTRYPOINT \["pipeline"\]$' "$dockerfile"
check "apt lists removed" grep -q 'rm -rf /var/lib/apt/lists' "$dockerfile"
for p in .git 'build-\*' workspace/ /pipeline; do
	check ".dockerignore has $p" grep -qx -- "$p" "$root/.dockerignore"
done

finish
