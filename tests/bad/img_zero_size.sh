# A PNG declaring 0x0 pixels.
want_rc=1 want_msg='zero.png'
case_run() {
	mkclasses data 12; small
	"$py" -c "
import struct, zlib
def chunk(t, b): return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b))
d = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 0, 0, 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(b'')) + chunk(b'IEND', b'')
open('data/a/zero.png','wb').write(d)"
	pl
}
