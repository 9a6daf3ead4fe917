// Runs model.onnx with onnxruntime-node on the tiles of a JSON file
// ({"dims": [n, c, h, w], "data": [...]}) and prints the "probabilities"
// output as JSON: [[p...], ...]. Usage: node onnx_run.js MODEL INPUT.json
const ort = require('onnxruntime-node');
const fs = require('fs');
(async () => {
	const input = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
	const session = await ort.InferenceSession.create(process.argv[2]);
	const x = new ort.Tensor('float32', Float32Array.from(input.data), input.dims);
	const out = (await session.run({ input: x })).probabilities;
	const k = out.dims[1], rows = [];
	for (let i = 0; i < out.dims[0]; i++)
		rows.push(Array.from(out.data.slice(i * k, (i + 1) * k)));
	console.log(JSON.stringify(rows));
})().catch((e) => { console.error('onnx_run: ' + e.message); process.exit(1); });
