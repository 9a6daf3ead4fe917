# A PNG bomb under a lowered dataset.max_pixels: 2000x2000 declared, limit 1e6.
want_rc=1 want_msg='bomb.png'
case_run() {
	mkclasses data 12; small
	"$py" -c "
from PIL import Image; Image.new('L',(2000,2000),0).save('data/a/bomb.png', optimize=True)"
	pl --set dataset.max_pixels=1000000
}
