# An indented "key = value" line right after a section header is read as
# the key - never appended to the built-in default with the error blamed on
# "default".
want_rc=0 want_msg=''
case_run() {
	mkclasses data 12; small; printf '[train]\n  lr = 0.02\n' >>small.ini
	"$py" -c "
s = open('small.ini').read().replace('[train]\nepochs = 1\nbatch = 8\nthreads = 1\n', '')
s = s.replace('[train]\n  lr = 0.02\n', '[train]\n  lr = 0.02\nepochs = 1\n')
open('small.ini', 'w').write(s)"
	pl
}
