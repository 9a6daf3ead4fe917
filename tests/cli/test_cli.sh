#!/bin/sh
# The command line itself: "did you mean" for commands and options, -V,
# every command's help listing every option it accepts, no escape codes
# where they do not belong, and standard output checked at exit.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
P=$PIPELINE
unset PIPELINE_WORKSPACE PIPELINE_CONFIG PIPELINE_SET PIPELINE_LOG_FORMAT PIPELINE_PACKAGE
commands="run stage status clean gc synth predict export help"
esc=$(printf '\033')

cat >small.ini <<'INI'
[dataset]
source = synth:plate?size=170x128
table = metadata.csv
channels = nuclei, nfkb
group_column = well
[prepare]
size = 32
resize = 128x128
tile = 32
[model]
layers = conv 8 3 pad 1, relu, maxpool 2, dense 16, relu, dense
[train]
epochs = 1
batch = 32
threads = 1
INI

# --- did you mean: commands
run "$P" statu
expect_rc "misspelt command" 2
expect_in "misspelt command: suggestion" err.txt "unknown command 'statu' (did you mean 'status'?)"
run "$P" exprot
expect_in "swapped letters count as one edit" err.txt "(did you mean 'export'?)"
run "$P" help statu
expect_rc "help of a misspelt command" 2
expect_in "help of a misspelt command: suggestion" err.txt "no command 'statu' (did you mean 'status'?)"
run "$P" help confg
expect_in "help of a misspelt topic: suggestion" err.txt "no command 'confg' (did you mean 'config'?)"
run "$P" confg
check "config is a help topic, not a command" sh -c '! grep -q "did you mean" err.txt'
run "$P" frobnicate
expect_rc "unknown command" 2
check "no suggestion for a word near no command" sh -c '! grep -q "did you mean" err.txt'

# --- did you mean: long options, in every command's parsing
while read -r cmd typo want; do
	run "$P" $cmd "$typo"
	expect_rc "$cmd $typo" 2
	expect_in "$cmd $typo: suggestion" err.txt "unknown option '$typo' (did you mean '$want'?)"
	expect_in "$cmd $typo: synopsis" err.txt "usage: pipeline $cmd"
done <<'EOF'
run --dry-rnu --dry-run
stage --shrad --shard
status --worksapce --workspace
status --jsno --json
clean --downlaods --downloads
gc --worksapce --workspace
synth --sede --seed
predict --pacakge --package
export --imgae --image
help --hepl --help
EOF
run "$P" status --worksapce=ws
expect_in "--opt=value: the option named alone" err.txt "unknown option '--worksapce' (did you mean '--workspace'?)"
run "$P" status --dry-rn -w ws
expect_rc "an option of another command" 2
check "no suggestion of an option the command does not take" sh -c '! grep -q "did you mean" err.txt'
run "$P" clean -w ws --config small.ini
expect_rc "clean takes no configuration" 2
expect_in "the refused option named, not its value" err.txt "option '--config' does not apply here"
run "$P" status -w ws --set train.lrr=0.1
expect_rc "misspelt config key" 2
expect_in "config keys still get a suggestion" err.txt "(did you mean 'lr'?)"

# --- -V is --version
run "$P" --version
expect_rc "--version" 0
cp out.txt version.txt
run "$P" -V
expect_rc "-V" 0
check "-V prints what --version does" cmp -s out.txt version.txt
expect_in "-V prints the version" out.txt "pipeline "

# --- every command's help lists every option it accepts, one line each.
# An option is probed on every command: it is accepted unless the command
# says it is unknown or does not apply. Abbreviations that getopt takes
# (--shard for export's --shards) are skipped.
longs=$(grep -oh '{ *"[a-z][a-z-]*", *[a-z]*_argument' "$root"/cmd/*.c | sed 's/{ *"\([^"]*\)".*/\1/' | sort -u)
check "the option tables were found" test "$(echo "$longs" | wc -l)" -ge 30
letters="a b c d e f g h i j k l m n o p q r s t u v w x y z A B C D E F G H I J K L M N O P Q R S T U V W X Y Z"
refused() { grep -q -e "unknown option" -e "does not apply" err.txt; }
for cmd in $commands; do
	run "$P" $cmd --help
	expect_rc "$cmd --help" 0
	expect_in "$cmd --help: usage" out.txt "usage: pipeline $cmd"
	cp out.txt help-$cmd.txt
	n=0
	for opt in $longs; do
		run "$P" $cmd "--$opt"
		refused && continue
		n=$((n + 1))
		grep -q -E -- "^ +(-[A-Za-z], )?--$opt( |$)" help-$cmd.txt && { ok; continue; }
		grep -q -E -- "^ +(-[A-Za-z], )?--$opt[a-z-]" help-$cmd.txt && continue
		fail "$cmd accepts --$opt but its help has no line for it"
	done
	for l in $letters; do
		run "$P" $cmd "-$l"
		refused && continue
		n=$((n + 1))
		check "$cmd accepts -$l: its help has a line for it" grep -q -E -- "^ +-$l(, | )" help-$cmd.txt
	done
	check "$cmd accepts some options (the probe works)" test "$n" -ge 2
done
# the probe tells accepted from refused
run "$P" status --json
check "probe: status takes --json" sh -c '! grep -q -e "unknown option" -e "does not apply" err.txt'
run "$P" clean --set a.b=1
check "probe: clean refuses --set" grep -q "does not apply" err.txt

# --- no escape codes unless the stream is a terminal and TERM is not dumb
run env TERM=xterm "$P" run -w ws -c small.ini
expect_rc "run, output to files" 0
check "run: no ESC on stderr that is not a terminal" sh -c "! grep -q '$esc' err.txt"
check "run: no ESC on stdout that is not a terminal" sh -c "! grep -q '$esc' out.txt"
run env TERM=xterm "$P" status -w ws -c small.ini
check "status: no ESC on stdout that is not a terminal" sh -c "! grep -q '$esc' out.txt"
if command -v script >/dev/null 2>&1; then
	# script(1) gives the command a terminal for stdout and stderr
	TERM=dumb script -qec "'$P' run -w ws2 -c small.ini && '$P' status -w ws2 -c small.ini" /dev/null >tty-dumb.txt 2>&1
	expect_in "terminal, TERM=dumb: the run logged" tty-dumb.txt "drawing wells 100%"
	expect_in "terminal, TERM=dumb: status printed" tty-dumb.txt "STAGE"
	check "terminal, TERM=dumb: no ESC" sh -c "! grep -q '$esc' tty-dumb.txt"
	TERM= script -qec "'$P' synth --out plate1/" /dev/null >tty-none.txt 2>&1
	expect_in "terminal, no TERM: synth logged" tty-none.txt "drawing wells 100%"
	check "terminal, no TERM: no ESC" sh -c "! grep -q '$esc' tty-none.txt"
	TERM=xterm script -qec "'$P' synth --out plate2/" /dev/null >tty-xterm.txt 2>&1
	check "terminal, TERM=xterm: the progress bar is redrawn" grep -q "$esc\[K" tty-xterm.txt
else
	echo "$suite: no script(1): terminal cases skipped" >&2
fi

# --- standard output checked at exit
if [ -w /dev/full ]; then
	run "$P" status --json --workspace ws -c small.ini
	expect_rc "status --json to a file" 0
	"$P" status --json --workspace ws -c small.ini >/dev/full 2>err.txt; rc=$?
	expect_rc "status --json > /dev/full" 1
	expect_in "status > /dev/full: said" err.txt "pipeline: error: cannot write standard output: No space left on device"
	for args in "help" "help status" "help config" "--version" "-V" "status --help" "export --help"; do
		"$P" $args >/dev/full 2>err.txt; rc=$?
		expect_rc "$args > /dev/full" 1
		expect_in "$args > /dev/full: said" err.txt "cannot write standard output: No space left on device"
	done
	"$P" statu >/dev/full 2>err.txt; rc=$?
	expect_rc "a usage error keeps its exit code" 2
	run "$P" status --json --log-format json -w ws -c small.ini
	"$P" status --json --log-format json -w ws -c small.ini >/dev/full 2>err.txt; rc=$?
	expect_rc "status --log-format json > /dev/full" 1
	check "with --log-format json the error is a JSON line" /usr/bin/python3 -c '
import json, sys
lines = [json.loads(l) for l in open("err.txt")]
sys.exit(not any(l["level"] == "error" and "cannot write standard output" in l["msg"] for l in lines))'
fi
"$P" help 2>err.txt | head -n 1 >out.txt
check "a reader that stops early is no error" sh -c '! grep -q "cannot write" err.txt'
expect_in "help through a pipe" out.txt "usage: pipeline"

finish
