#!/bin/sh
# Regenerates the configuration reference in README.md from the binary
# (`pipeline help config`), between the config:begin and config:end markers.
set -eu
cd "$(dirname "$0")/.."
ref=$(mktemp)
trap 'rm -f "$ref" README.md.new' EXIT
./pipeline help config >"$ref"
awk -v ref="$ref" '
	/<!-- config:end -->/ { skip = 0 }
	!skip { print }
	/<!-- config:begin -->/ { while ((getline line < ref) > 0) print line; skip = 1 }
' README.md >README.md.new
mv README.md.new README.md
