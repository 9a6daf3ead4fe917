# A PNG declaring 100000x100000 pixels (a valid header, no data): refused by
# the pixel limit before any allocation, naming the file.
want_rc=1 want_msg='huge.png'
case_run() {
	mkclasses data 12; small
	"$py" -c "
import struct, zlib
def chunk(t, b): return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b))
d = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 100000, 100000, 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(b'\0' * 100)) + chunk(b'IEND', b'')
open('data/a/huge.png','wb').write(d)"
	pl
}
