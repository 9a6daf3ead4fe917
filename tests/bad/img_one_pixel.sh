# A 1x1 image among the others is a valid image: scaled to the input size, the run works.
want_rc=0
case_run() {
	mkclasses data 12; small
	"$py" -c "from PIL import Image; Image.new('L',(1,1),200).save('data/a/one.png')"
	pl
}
