# A BMP whose header declares 60000x60000 pixels but holds 16x16 of data:
# refused before allocating, naming the file.
want_rc=1 want_msg='liar.bmp'
case_run() {
	mkclasses data 12; small
	"$py" -c "
import struct
from PIL import Image
Image.new('L',(16,16),9).save('data/a/liar.bmp')
d=bytearray(open('data/a/liar.bmp','rb').read())
d[18:26]=struct.pack('<ii',60000,60000)
open('data/a/liar.bmp','wb').write(d)"
	pl
}
