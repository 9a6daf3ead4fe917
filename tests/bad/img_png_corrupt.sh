# A dataset PNG with its image data overwritten by garbage (bad CRC/zlib).
want_rc=1 want_msg='002.png'
case_run() {
	mkclasses data 12; small
	"$py" -c "
import sys; p='data/b/002.png'; d=bytearray(open(p,'rb').read())
i=d.find(b'IDAT')+4
for k in range(i, min(i+20, len(d)-12)): d[k]^=0x5a
open(p,'wb').write(d)"
	pl
}
