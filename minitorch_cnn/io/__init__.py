"""Files: what leaves and enters the process.  No pickle; every write is atomic.

fileio.py         atomic writes (temp file + rename): every file the project writes goes through it
serialization.py  ``mt.save``/``mt.load``: npz checkpoints read with bounded memory
safetensors.py    ``mt.save_safetensors``/``mt.load_safetensors``: weights for PyTorch users
onnx.py           ``mt.onnx.export``: the whole graph, for an ONNX runtime
"""
