# A warning about a folder inside an archive source names it inside the
# archive as given, not inside the temporary folder it was extracted into.
want_rc=0 want_msg="ignoring folder '$PWD/src.tar.gz:data/docs': it holds no"
case_run() {
	mkclasses data 12; mkdir data/docs; echo notes >data/docs/README.txt
	evil_tar src.tar.gz ''
	small "$PWD/src.tar.gz"; pl 2>e.txt; r=$?
	cat e.txt >&2
	! grep -q '\.tmp/' e.txt || { echo "a path under .tmp/ is shown" >&2; return 97; }
	return $r
}
