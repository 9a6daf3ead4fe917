# An indented "key = value" line right after a section header: either read
# as the key, or an error naming the file and line - never appended to the
# built-in default with the error blamed on "default".
want_rc=2 want_msg='small.ini'
case_run() {
	mkclasses data 12; small; printf '[train]\n  lr = 0.02\n' >>small.ini
	"$py" -c "
s = open('small.ini').read().replace('[train]\nepochs = 1\nbatch = 8\nthreads = 1\n', '')
s = s.replace('[train]\n  lr = 0.02\n', '[train]\n  lr = 0.02\nepochs = 1\n')
open('small.ini', 'w').write(s)"
	pl
}
