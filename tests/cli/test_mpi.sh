#!/bin/sh
# Training over MPI ranks on localhost: -np 2 and -np 4 ranks of one thread
# give model.pnn byte-identical to one process of 2 and 4 threads; a rank
# killed mid-epoch ends the job within seconds with exit 75 and the rerun
# (1 rank of 2 threads) resumes to the identical model; ranks with another configuration are
# refused; `pipeline run` and other stages under mpirun are refused; only
# rank 0 writes; without a launcher the binary does not load libmpi.
root=${PL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib.sh"
P=$PIPELINE
mpi_suite_setup   # leak checks off: LeakSanitizer cannot run under strace either (used below)

# The demo plate, small; batch norm, dropout and augmentation are all in
# play, as they are what could make ranks differ from threads.
SMALL_PLATE_LAYERS="conv 8 3 pad 1, bn, relu, maxpool 2, conv 16 3 pad 1, relu, maxpool 2, dense 32, relu, dropout 0.2, dense"
small_plate_ini small.ini "seed = 1"
cat >>small.ini <<'EOF'
[train]
epochs = 2
batch = 32
optimizer = adam
augment = flips, rot90
lr = 0.01
seed = 1
threads = 1
EOF

run "$P" stage prepare --workspace base --config small.ini
expect_rc "prepare" 0
# fresh WS: a copy of the prepared workspace, without a train result
fresh() { rm -rf "$1"; cp -a base "$1"; }

# ---- ranks against threads ----
for n in 2 4; do
	fresh "t$n"
	run "$P" stage train --workspace "t$n" --config small.ini --set train.threads=$n
	expect_rc "one process of $n threads" 0
	fresh "r$n"
	run mpi -np $n "$P" stage train --workspace "r$n" --config small.ini --set train.threads=$n \
		--log-format human
	expect_rc "$n ranks of 1 thread" 0
	expect_in "$n ranks agree on the config" err.txt "$n ranks agree on the configuration"
	expect_in "$n ranks train as $n threads" err.txt "$n threads over the ranks"
	check "$n ranks: model.pnn equals $n threads'" cmp -s "t$n/train/model.pnn" "r$n/train/model.pnn"
	check "$n ranks: history.csv equals $n threads'" cmp -s "t$n/train/history.csv" "r$n/train/history.csv"
	check "$n ranks: other ranks log nothing at info level" \
		sh -c "! grep -q '^rank [1-9]' err.txt"
done
check "ranks differ from one thread (the test can fail)" sh -c '! cmp -s t2/train/model.pnn t4/train/model.pnn'
check "the fingerprint of 2 ranks is that of 2 threads" \
	sh -c "grep -h '\"fingerprint\"' t2/train/stage.json r2/train/stage.json | uniq | wc -l | grep -qx 1"
run mpi -np 2 "$P" stage train --workspace r2 --config small.ini --set train.threads=2 --log-format human
expect_rc "rerun under mpirun: cached" 0
expect_in "rerun is cached" err.txt "train: cached"
run "$P" stage train --workspace r2 --config small.ini --set train.threads=2 --log-format human
expect_in "one process of as many threads finds it cached" err.txt "train: cached"
run mpi -np 2 "$P" stage train --workspace r4 --config small.ini --set train.threads=4 --log-format human
expect_in "2 ranks of 2 threads find 4 ranks' result cached" err.txt "train: cached"
run mpi -np 2 "$P" stage train --workspace r4 --config small.ini --set train.threads=3
expect_rc "threads that do not divide over the ranks" 2
expect_in "names the total" err.txt "train.threads = 3 does not divide over 2 ranks"

# ---- a rank killed mid-epoch ----
fresh t5
run "$P" stage train --workspace t5 --config small.ini --set train.epochs=5 --set train.threads=2
expect_rc "uninterrupted 5 epochs" 0
fresh k
mpi -np 2 "$P" stage train --workspace k --config small.ini --set train.epochs=5 \
	--set train.threads=2 --log-format human >kill.out 2>&1 &
job=$!
i=0
while [ ! -f k/.tmp/train/checkpoints/last.ckpt ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.2
# a rank process is a pipeline whose parent is its pipeline supervisor
victim=""
for pid in $(pgrep -f "stage train --workspace k "); do
	parent=$(ps -o ppid= -p "$pid" | tr -d ' ')
	case "$(ps -o args= -p "$parent" 2>/dev/null)" in "$P stage train"*) victim=$pid ;; esac
done
check "found a rank process to kill" test -n "$victim"
t0=$(date +%s)
kill -9 "$victim" 2>/dev/null
wait "$job"
rc=$?
t1=$(date +%s)
expect_rc "a killed rank ends the job with 75" 75
check "the job ended within 10 s of the kill ($((t1 - t0)) s)" test $((t1 - t0)) -le 10
check "no model after the kill" test ! -e k/train/model.pnn
run mpi -np 1 "$P" stage train --workspace k --config small.ini --set train.epochs=5 \
	--set train.threads=2 --log-format human
expect_rc "rerun after the kill, 1 rank of 2 threads" 0
expect_in "rerun resumes from the checkpoint" err.txt "resuming after epoch"
check "resumed model equals the uninterrupted one" cmp -s t5/train/model.pnn k/train/model.pnn

# ---- refusals ----
fresh m
run mpi -np 1 "$P" stage train --workspace m --config small.ini --set train.threads=2 : \
	-np 1 "$P" stage train --workspace m --config small.ini --set train.threads=2 --set train.lr=0.02
expect_rc "ranks with another configuration: exit 2" 2
expect_in "the mismatch names the rank" err.txt "rank 1 has another configuration than rank 0"
check "refused: no model" test ! -e m/train/model.pnn
run mpi -np 2 "$P" run --workspace m --config small.ini
expect_rc "pipeline run under mpirun is refused" 2
expect_in "run: says to use stage train" err.txt "only \`mpirun ... pipeline stage train\` runs over MPI ranks"
run mpi -np 2 "$P" stage validate --workspace m --config small.ini
expect_rc "stage validate under mpirun is refused" 2
run mpi -np 2 "$P" stage train --workspace m --config small.ini --set train.distributed=off
expect_rc "distributed = off: each process alone" 0
check "distributed = off: trained as one process of 1 thread" grep -q '"train.threads": "1"' m/train/stage.json

# ---- only rank 0 writes; no libmpi without a launcher ----
fresh w
run mpi -np 2 "$P" stage train --workspace w --config small.ini --set train.threads=2
check "rank 0 wrote the model" test -s w/train/model.pnn
check "no stray files from other ranks" sh -c "! find w -newer base/prepare/stage.json -name '*rank*' | grep -q ."
run strace -f -e trace=openat -o trace.txt "$P" stage train --workspace t2 --config small.ini --set train.threads=2
expect_rc "cached train without a launcher" 0
check "no libmpi opened without a launcher" sh -c "! grep -q libmpi trace.txt"
check "the binary does not link libmpi" sh -c "! ldd '$P' | grep -q libmpi"
finish
