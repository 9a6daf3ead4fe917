# An RGBA PNG of 9000x9000 (81 M pixels, under the pixel limit; 324 M values
# with its 4 channels, over it) with dataset.on_bad_image=skip: skipped before
# any allocation, counted in stats.json with the reason, and the run works.
want_rc=0
case_run() {
	mkclasses data 12; small
	png_header data/a/huge.png 9000 9000 6
	pl --set dataset.on_bad_image=skip
	rc=$?
	"$py" -c "
import json, sys
s = json.load(open('ws/prepare/stats.json'))
r = [k['reason'] for k in s['skipped'] if k['file'].endswith('huge.png')]
sys.exit(not (r and 'with 4 channels is over the limit of 268435456 values' in r[0]))" ||
		{ echo 'stats.json lacks the skipped huge.png and its reason' >&2; return 99; }
	return $rc
}
