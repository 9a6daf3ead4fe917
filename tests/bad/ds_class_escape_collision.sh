# Class folders 'caf' + byte 0xE9 (not UTF-8) and one literally named
# 'caf\xe9': two names that must not escape to the same label. labels.txt
# holds three distinct names and predict gives three scores.
want_rc=0 want_msg=''
case_run() {
	mkclasses data 12 a
	"$py" - <<'PY'
import os, shutil
for d in (b"data/caf\xe9", b"data/caf\\xe9"):
    shutil.copytree(b"data/a", d)
PY
	small; pl || return $?
	n=$(sort -u ws/prepare/labels.txt | wc -l)
	[ "$n" -eq 3 ] || { echo "labels.txt holds $n distinct names: $(cat ws/prepare/labels.txt)" >&2; return 97; }
	pkg=$(ls ws/package/*.tar.zst)
	"$PIPELINE" predict --package "$pkg" data/a/000.png >p.json || return 96
	k=$("$py" -c 'import json,sys; print(len(json.load(open("p.json"))["scores"]))')
	[ "$k" -eq 3 ] || { echo "predict gives $k scores for 3 classes" >&2; return 95; }
}
