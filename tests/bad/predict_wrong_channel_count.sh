# predict with a 1-channel (gray) model on an RGBA image: the wrong channel
# count is an error naming the image and both counts, exit 1.
want_rc=1 want_msg="'rgba.png' gives 3 channels, the model takes 1"
case_run() {
	mkpackage || return 90
	"$py" -c "from PIL import Image; Image.new('RGBA',(16,16),(9,200,9,255)).save('rgba.png')"
	"$PIPELINE" predict --package "$pkg" rgba.png
}
