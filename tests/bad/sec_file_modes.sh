# Under umask 022 every file the stages create is 0644 and every directory
# 0755 (no 0600 temp files left as results, no 0777 or executable files).
want_rc=0
case_run() {
	mkclasses data 12; small
	(umask 022; pl) || return 1
	bad=$(find ws \( -type f ! -perm 0644 \) -o \( -type d ! -perm 0755 \) | xargs -r stat -c '%a %n')
	[ -z "$bad" ] || { echo "wrong modes: $bad" | head -c 600 >&2; return 1; }
}
