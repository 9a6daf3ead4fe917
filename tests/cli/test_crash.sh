#!/bin/sh
# Crash consistency, short form of tests/crash/crash.sh: 20 seeded SIGKILLs
# spread over the stages; after each, status is truthful and a rerun ends
# with the model and metrics of an uninterrupted run.
. "$(dirname "$0")/lib.sh"
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}

# Under a sanitizer build the runs are slow: fewer kills, same checks.
kills=20
case "$PIPELINE" in *asan*) kills=6 ;; esac
run sh "$root/tests/crash/crash.sh" "$kills" 7
cat out.txt
expect_rc "crash loop: status truthful, reruns complete, results equal" 0
expect_in "every kill survived" out.txt "crash: $kills kills survived / 0 corrupted results"
finish
