# An empty tar.gz: the error names the archive as given, not the temporary
# folder it was extracted into.
want_rc=1 want_msg="empty.tar.gz' has no class folders"
case_run() {
	mkdir empty; tar -czf empty.tar.gz -C empty .
	small "$PWD/empty.tar.gz"; pl 2>e.txt; r=$?
	cat e.txt >&2
	! grep -q '\.tmp/' e.txt || { echo "a path under .tmp/ is shown" >&2; return 97; }
	return $r
}
