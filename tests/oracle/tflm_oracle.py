#!/usr/bin/env python3
"""Run a .tflite model in the official TFLM interpreter (PyPI `tflite-micro`) and save what it
computed, so Rust tests can compare bit for bit.

    tflm_oracle.py --model M.tflite --inputs X0.npy [--inputs X1.npy ...] --out OUT.npz
                   [--all-tensors] [--details DETAILS.json]

Each `--inputs` file holds N samples for one model input, shaped (N, *input_shape) or
(N, prod(input_shape)), with the input's dtype. The npz gets `out{i}` = (N, *output_shape) for
every output i and, with --all-tensors, `t{k}` = (N, *shape) for every tensor k of subgraph 0
the interpreter can return (kPreserveAllTensors). `--details` writes the interpreter's view of
the input/output tensors (dtype, shape, scales, zero points) as JSON.
"""
import argparse
import json
import sys

import numpy as np
from tflite_micro.python.tflite_micro import runtime


def details_to_json(d):
    q = d["quantization_parameters"]
    return {
        "dtype": np.dtype(d["dtype"]).name,
        "shape": [int(v) for v in d["shape"]],
        "scales": [float(v) for v in q["scales"]],
        "zero_points": [int(v) for v in q["zero_points"]],
        "quantized_dimension": int(q["quantized_dimension"]),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--inputs", action="append", default=[])
    ap.add_argument("--out", required=True)
    ap.add_argument("--all-tensors", action="store_true")
    ap.add_argument("--details")
    ap.add_argument("--arena-size", type=int, default=None)
    args = ap.parse_args()

    with open(args.model, "rb") as f:
        data = f.read()
    cfg = (runtime.InterpreterConfig.kPreserveAllTensors if args.all_tensors
           else runtime.InterpreterConfig.kAllocationRecording)
    arena = args.arena_size or max(len(data) * 10, 4 << 20)
    it = runtime.Interpreter.from_bytes(data, arena_size=arena, intrepreter_config=cfg)

    # Asking the interpreter for a tensor index it does not have crashes it, so take the counts
    # from the model itself.
    sg = runtime.convert_bytearray_to_object(bytearray(data)).subgraphs[0]
    num_tensors = len(sg.tensors)
    in_details = [it.get_input_details(k) for k in range(len(sg.inputs))]
    out_details = [it.get_output_details(k) for k in range(len(sg.outputs))]
    if args.details:
        with open(args.details, "w") as f:
            json.dump({"inputs": [details_to_json(d) for d in in_details],
                       "outputs": [details_to_json(d) for d in out_details]}, f)

    xs = [np.load(p) for p in args.inputs]
    if len(xs) != len(in_details) and xs:
        sys.exit(f"model has {len(in_details)} inputs but {len(xs)} --inputs were given")
    n = xs[0].shape[0] if xs else 0
    outs = {f"out{k}": [] for k in range(len(out_details))}
    tensors = {}
    for s in range(n):
        for k, (x, d) in enumerate(zip(xs, in_details)):
            it.set_input(x[s].reshape(d["shape"]).astype(d["dtype"]), k)
        it.invoke()
        for k in range(len(out_details)):
            outs[f"out{k}"].append(np.array(it.get_output(k)))
        if args.all_tensors:
            for t in range(num_tensors):
                try:
                    r = it.GetTensor(t, 0)
                except Exception:
                    continue
                if r is None or "tensor_data" not in r:
                    continue
                tensors.setdefault(f"t{t}", []).append(np.array(r["tensor_data"]).reshape(
                    [int(v) for v in r["shape"]]))
    result = {k: np.stack(v) for k, v in outs.items() if v}
    result.update({k: np.stack(v) for k, v in tensors.items() if len(v) == n})
    np.savez(args.out, **result)


if __name__ == "__main__":
    main()
