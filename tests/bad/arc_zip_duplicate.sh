# A zip with two entries of the same name: refused, naming the entry
# (which copy would be the data?).
want_rc=1 want_msg="entry 'data/a/000.png' appears twice"
case_run() {
	mkclasses data 12
	"$py" - <<'PY'
import os, warnings, zipfile
warnings.simplefilter("ignore")
with zipfile.ZipFile("src.zip", "w") as z:
    for root, _, files in os.walk("data"):
        for f in sorted(files):
            z.write(os.path.join(root, f))
    z.write("data/b/000.png", "data/a/000.png")
PY
	small "$PWD/src.zip"; pl
}
