# The README's configuration reference is the one the binary generates.
. "$(dirname "$0")/lib.sh"

readme="$PL_ROOT/README.md"
sed -n '/<!-- config:begin -->/,/<!-- config:end -->/p' "$readme" | sed '1d;$d' >readme.txt
run "$PIPELINE" help config
expect_rc "help config" 0
check "README has the reference markers" test -s readme.txt
if cmp -s readme.txt out.txt; then ok; else fail "README.md's configuration reference differs from 'pipeline help config' (run scripts/update-readme.sh)"; fi
for cmd in 'make run' 'make test'; do
	expect_in "README shows $cmd" "$readme" "$cmd"
done
finish
