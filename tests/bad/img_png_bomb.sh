# A PNG bomb: 1 MB of file inflating to 900 million pixels. Refused by the
# pixel limit (dataset.max_pixels) without decoding, naming the file.
want_rc=1 want_msg='bomb.png'
case_run() {
	mkclasses data 12; small
	"$py" -c "
import struct, zlib
w = h = 30000
def chunk(t, b): return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b))
z = zlib.compressobj(9); row = b'\0' * (w + 1); body = b''.join(z.compress(row) for _ in range(h)) + z.flush()
d = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) + chunk(b'IDAT', body) + chunk(b'IEND', b'')
open('data/a/bomb.png','wb').write(d)"
	pl
}
