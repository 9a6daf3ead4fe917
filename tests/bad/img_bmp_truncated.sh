# A dataset BMP whose pixel rows are cut off.
want_rc=1 want_msg='005.bmp'
case_run() {
	mkclasses data 12; small
	"$py" -c "
from PIL import Image
Image.new('L',(16,16),9).save('data/a/005.bmp')
d=open('data/a/005.bmp','rb').read(); open('data/a/005.bmp','wb').write(d[:len(d)//2])"
	pl
}
