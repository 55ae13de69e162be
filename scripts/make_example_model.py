#!/usr/bin/env python3
"""Train, quantize and write the example model snapuq carries: a small int8 CNN on the digits
data set bundled with scikit-learn (8x8 grayscale, 10 classes).

    python scripts/make_example_model.py [--out examples/models] [--epochs 40] [--seed 7]

Why it exists: the README's quick start, the converter tests and the firmware examples need a
real int8 model the repository makes itself (the MLPerf models under ../shared may not be
redistributed). The network is a miniature DS-CNN/ResNet so that SNAP taps have blocks to sit on:

    input int8 [1,8,8,1]
    CONV_2D 3x3 1->16 relu
    DEPTHWISE_CONV_2D 3x3 relu -> CONV_2D 1x1 16->32 relu            (depthwise-separable block)
    DEPTHWISE_CONV_2D 3x3 relu -> CONV_2D 1x1 32->32 -> ADD(+skip) relu   (residual block)
    AVERAGE_POOL_2D 8x8 (global) -> RESHAPE [1,32] -> FULLY_CONNECTED 32->10 -> SOFTMAX

Training is plain numpy (Adam, seeded, one thread so the bytes are reproducible). Quantization
follows the TFLite converter's full-integer post-training scheme: activations asymmetric int8
from calibration min/max (range widened to contain 0), conv/depthwise weights symmetric
per-channel (quantized_dimension 0 for CONV_2D, 3 for DEPTHWISE_CONV_2D), FULLY_CONNECTED weights
symmetric per-tensor, int32 biases at scale in_scale * w_scale, pooling/reshape sharing their
input's parameters, softmax output at scale 1/256 and zero point -128. The file is written with
the flatbuffer object API shipped in PyPI `tflite-micro` and checked in the official TFLM
interpreter: the int8 top-1 accuracy on the held-out test split is printed next to the float
model's.

Outputs (in --out): digits_cnn.tflite, digits_{calib,dev,test}.npy (int8, shape (N, 8, 8, 1),
already quantized with the model's input parameters) and digits_{dev,test}_labels.npy (int64).
The float network sees pixels scaled to [-1, 1]; the int8 input uses scale 2/255, zero point -1.
Needs numpy, scikit-learn and tflite-micro: `.ci/setup-python --with-model`, then
`.venv/bin/python scripts/make_example_model.py`.
"""
import os

# One BLAS thread: multi-threaded reductions may change the last bits between runs, and the
# committed model must be reproducible byte for byte.
for _k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import flatbuffers  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from tflite_micro.python.tflite_micro import runtime  # noqa: E402

fb = runtime.schema_fb

# Split sizes (the digits set has 1797 images); the rest trains the network.
N_CALIB, N_DEV, N_TEST = 250, 250, 297


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
def load_splits(seed):
    d = load_digits()
    x = (d.images.astype(np.float64) / 8.0 - 1.0)[..., None]  # (N, 8, 8, 1) in [-1, 1]
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    x, y = x[perm], y[perm]
    a, b, c = N_CALIB, N_CALIB + N_DEV, N_CALIB + N_DEV + N_TEST
    return {
        "calib": (x[:a], y[:a]),
        "dev": (x[a:b], y[a:b]),
        "test": (x[b:c], y[b:c]),
        "train": (x[c:], y[c:]),
    }


# ----------------------------------------------------------------------------------------------
# Float network: forward/backward for the few layers we need (NHWC, SAME 3x3, stride 1)
# ----------------------------------------------------------------------------------------------
def patches3x3(x):
    """(B,H,W,C) -> (B,H,W,9,C): the 3x3 SAME neighbourhood, taps ordered (kh, kw)."""
    b, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return np.stack([xp[:, i:i + h, j:j + w, :] for i in range(3) for j in range(3)], axis=3)


def fold3x3(dp):
    """Adjoint of patches3x3: (B,H,W,9,C) -> (B,H,W,C)."""
    b, h, w, _, c = dp.shape
    dxp = np.zeros((b, h + 2, w + 2, c), dp.dtype)
    k = 0
    for i in range(3):
        for j in range(3):
            dxp[:, i:i + h, j:j + w, :] += dp[:, :, :, k, :]
            k += 1
    return dxp[:, 1:-1, 1:-1, :]


def init_params(rng):
    def he(shape, fan_in):
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)

    return {
        # CONV_2D weights in TFLite layout [O, kh, kw, I].
        "c0_w": he((16, 3, 3, 1), 9), "c0_b": np.zeros(16),
        # DEPTHWISE_CONV_2D weights in TFLite layout [1, kh, kw, C].
        "d1_w": he((1, 3, 3, 16), 9), "d1_b": np.zeros(16),
        "p1_w": he((32, 1, 1, 16), 16), "p1_b": np.zeros(32),
        "d2_w": he((1, 3, 3, 32), 9), "d2_b": np.zeros(32),
        "p2_w": he((32, 1, 1, 32), 32) * 0.5, "p2_b": np.zeros(32),
        # FULLY_CONNECTED weights [out, in].
        "fc_w": he((10, 32), 32) * 0.5, "fc_b": np.zeros(10),
    }


def forward(p, x):
    """Returns logits and every activation (named like the model's tensors) plus backward caches."""
    a = {"input": x}
    px = patches3x3(x)                                        # (B,8,8,9,1)
    z = np.einsum("bhwkc,okc->bhwo", px, p["c0_w"].reshape(16, 9, 1)) + p["c0_b"]
    a["conv0"] = np.maximum(z, 0)
    pd1 = patches3x3(a["conv0"])
    z = np.einsum("bhwkc,kc->bhwc", pd1, p["d1_w"].reshape(9, 16)) + p["d1_b"]
    a["dw1"] = np.maximum(z, 0)
    z = a["dw1"] @ p["p1_w"].reshape(32, 16).T + p["p1_b"]
    a["pw1"] = np.maximum(z, 0)
    pd2 = patches3x3(a["pw1"])
    z = np.einsum("bhwkc,kc->bhwc", pd2, p["d2_w"].reshape(9, 32)) + p["d2_b"]
    a["dw2"] = np.maximum(z, 0)
    a["pw2"] = a["dw2"] @ p["p2_w"].reshape(32, 32).T + p["p2_b"]
    a["add"] = np.maximum(a["pw2"] + a["pw1"], 0)
    a["pool"] = a["add"].mean(axis=(1, 2))                    # (B,32)
    a["logits"] = a["pool"] @ p["fc_w"].T + p["fc_b"]
    cache = (px, pd1, pd2)
    return a, cache


def backward(p, a, cache, y):
    """Gradients of the mean softmax cross-entropy."""
    px, pd1, pd2 = cache
    n = len(y)
    g = {}
    lg = a["logits"] - a["logits"].max(axis=1, keepdims=True)
    prob = np.exp(lg)
    prob /= prob.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(prob[np.arange(n), y] + 1e-12))
    dl = prob
    dl[np.arange(n), y] -= 1.0
    dl /= n
    g["fc_w"] = dl.T @ a["pool"]
    g["fc_b"] = dl.sum(0)
    dpool = dl @ p["fc_w"]
    dadd = np.broadcast_to(dpool[:, None, None, :] / 64.0, a["add"].shape) * (a["add"] > 0)
    dpw2 = dadd
    dpw1 = dadd.copy()
    g["p2_w"] = np.einsum("bhwo,bhwi->oi", dpw2, a["dw2"]).reshape(32, 1, 1, 32)
    g["p2_b"] = dpw2.sum((0, 1, 2))
    ddw2 = (dpw2 @ p["p2_w"].reshape(32, 32)) * (a["dw2"] > 0)
    g["d2_w"] = np.einsum("bhwkc,bhwc->kc", pd2, ddw2).reshape(1, 3, 3, 32)
    g["d2_b"] = ddw2.sum((0, 1, 2))
    dpw1 += fold3x3(ddw2[:, :, :, None, :] * p["d2_w"].reshape(1, 1, 1, 9, 32))
    dpw1 *= a["pw1"] > 0
    g["p1_w"] = np.einsum("bhwo,bhwi->oi", dpw1, a["dw1"]).reshape(32, 1, 1, 16)
    g["p1_b"] = dpw1.sum((0, 1, 2))
    ddw1 = (dpw1 @ p["p1_w"].reshape(32, 16)) * (a["dw1"] > 0)
    g["d1_w"] = np.einsum("bhwkc,bhwc->kc", pd1, ddw1).reshape(1, 3, 3, 16)
    g["d1_b"] = ddw1.sum((0, 1, 2))
    dc0 = fold3x3(ddw1[:, :, :, None, :] * p["d1_w"].reshape(1, 1, 1, 9, 16))
    dc0 *= a["conv0"] > 0
    g["c0_w"] = np.einsum("bhwo,bhwk->ok", dc0, px[..., 0]).reshape(16, 3, 3, 1)
    g["c0_b"] = dc0.sum((0, 1, 2))
    return loss, g


def train(splits, epochs, seed):
    rng = np.random.default_rng(seed)
    p = init_params(rng)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(val) for k, val in p.items()}
    x, y = splits["train"]
    lr, b1, b2, eps, batch, step = 1e-2, 0.9, 0.999, 1e-8, 32, 0
    for ep in range(epochs):
        perm = rng.permutation(len(y))
        total = 0.0
        lr_ep = lr * 0.5 * (1 + np.cos(np.pi * ep / epochs))
        for s in range(0, len(y), batch):
            idx = perm[s:s + batch]
            a, cache = forward(p, x[idx])
            loss, g = backward(p, a, cache, y[idx])
            total += loss * len(idx)
            step += 1
            for k in p:
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
                mh = m[k] / (1 - b1 ** step)
                vh = v[k] / (1 - b2 ** step)
                p[k] -= lr_ep * mh / (np.sqrt(vh) + eps)
        if ep % 10 == 9 or ep == epochs - 1:
            print(f"  epoch {ep + 1:3d}: train loss {total / len(y):.4f}")
    return p


def accuracy(p, x, y):
    a, _ = forward(p, x)
    return float(np.mean(a["logits"].argmax(1) == y))


# ----------------------------------------------------------------------------------------------
# Quantization (the TFLite converter's full-integer rules)
# ----------------------------------------------------------------------------------------------
def tfl_round(x):
    """std::round: halves away from zero (numpy's round is half-to-even)."""
    x = np.asarray(x, np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def act_params(lo, hi):
    """Asymmetric int8 parameters for a [lo, hi] range widened to contain 0."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi == lo:
        hi = lo + 1e-6
    scale = (hi - lo) / 255.0
    zp_from_min = -128.0 - lo / scale
    zp = int(np.clip(tfl_round(zp_from_min), -128, 127))
    return np.float32(scale), zp


def weights_per_channel(w, axis):
    red = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w).max(axis=red)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(tfl_round(w / scale.astype(np.float64).reshape(shape)), -127, 127)
    return q.astype(np.int8), scale


def weights_per_tensor(w):
    amax = float(np.abs(w).max())
    scale = np.float32(amax / 127.0 if amax > 0 else 1.0)
    q = np.clip(tfl_round(w / np.float64(scale)), -127, 127)
    return q.astype(np.int8), np.array([scale], np.float32)


def bias_q(b, in_scale, w_scale):
    s = np.float64(in_scale) * w_scale.astype(np.float64)
    return tfl_round(b / s).astype(np.int32)


def quantize_input(x, scale, zp):
    return np.clip(tfl_round(x / np.float64(scale)) + zp, -128, 127).astype(np.int8)


# ----------------------------------------------------------------------------------------------
# Flatbuffer writing (object API from tflite-micro's schema module)
# ----------------------------------------------------------------------------------------------
class AlignedBufferT(fb.BufferT):
    """A BufferT whose data starts on a 16-byte boundary, as the TFLite converter writes it,
    so int32 biases and weights can be read in place on a microcontroller."""

    def Pack(self, builder):
        data = None
        if self.data is not None:
            raw = np.ascontiguousarray(self.data).view(np.uint8).tobytes()
            builder.StartVector(1, len(raw), 16)
            builder.head = builder.head - len(raw)
            builder.Bytes[builder.head:builder.head + len(raw)] = raw
            builder.vectorNumElems = len(raw)
            data = builder.EndVector()
        fb.BufferStart(builder)
        if data is not None:
            fb.BufferAddData(builder, data)
        return fb.BufferEnd(builder)


class ModelBuilder:
    # Versions the TFLite converter assigns to these ops with int8 (per-channel) kernels.
    OP_VERSIONS = {
        "CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "ADD": 2, "AVERAGE_POOL_2D": 2,
        "RESHAPE": 1, "FULLY_CONNECTED": 4, "SOFTMAX": 2,
    }

    def __init__(self):
        empty = AlignedBufferT()
        self.buffers = [empty]  # buffer 0 is the empty sentinel by convention
        self.tensors = []
        self.ops = []
        self.opcodes = []

    def _opcode(self, name):
        code = getattr(fb.BuiltinOperator, name)
        for i, oc in enumerate(self.opcodes):
            if oc.builtinCode == code:
                return i
        oc = fb.OperatorCodeT()
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = min(code, 127)
        oc.version = self.OP_VERSIONS[name]
        self.opcodes.append(oc)
        return len(self.opcodes) - 1

    def tensor(self, name, shape, ttype, scale, zp, data=None, qdim=0):
        buf = AlignedBufferT()
        if data is not None:
            buf.data = np.ascontiguousarray(data)
        self.buffers.append(buf)
        t = fb.TensorT()
        t.name = name
        t.shape = [int(d) for d in shape]
        t.type = ttype
        t.buffer = len(self.buffers) - 1
        if scale is not None:
            q = fb.QuantizationParametersT()
            q.scale = [float(s) for s in np.atleast_1d(scale)]
            q.zeroPoint = [int(z) for z in np.atleast_1d(zp)]
            q.quantizedDimension = qdim
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, name, inputs, outputs, opt_type, opts):
        o = fb.OperatorT()
        o.opcodeIndex = self._opcode(name)
        o.inputs = list(inputs)
        o.outputs = list(outputs)
        o.builtinOptionsType = opt_type
        o.builtinOptions = opts
        self.ops.append(o)

    def finish(self, inputs, outputs, description):
        sg = fb.SubGraphT()
        sg.tensors = self.tensors
        sg.inputs = list(inputs)
        sg.outputs = list(outputs)
        sg.operators = self.ops
        sg.name = "main"
        m = fb.ModelT()
        m.version = 3
        m.operatorCodes = self.opcodes
        m.subgraphs = [sg]
        m.description = description
        m.buffers = self.buffers
        b = flatbuffers.Builder(1 << 16)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def conv_opts(act, padding=None):
    o = fb.Conv2DOptionsT()
    o.padding = fb.Padding.SAME if padding is None else padding
    o.strideW = o.strideH = 1
    o.dilationWFactor = o.dilationHFactor = 1
    o.fusedActivationFunction = act
    return o


def dw_opts(act):
    o = fb.DepthwiseConv2DOptionsT()
    o.padding = fb.Padding.SAME
    o.strideW = o.strideH = 1
    o.depthMultiplier = 1
    o.dilationWFactor = o.dilationHFactor = 1
    o.fusedActivationFunction = act
    return o


def build_model(p, ranges):
    I8, I32 = fb.TensorType.INT8, fb.TensorType.INT32
    RELU, NONE = fb.ActivationFunctionType.RELU, fb.ActivationFunctionType.NONE
    BO = fb.BuiltinOptions
    qa = {k: act_params(*ranges[k]) for k in ranges}
    mb = ModelBuilder()

    t_in = mb.tensor("input", [1, 8, 8, 1], I8, *qa["input"])

    def conv(name, x_t, x_scale, w, b, out_key, act, dw=False):
        axis = 3 if dw else 0
        wq, ws = weights_per_channel(w, axis)
        bq = bias_q(b, x_scale, ws)
        t_w = mb.tensor(f"{name}/weights", w.shape, I8, ws, np.zeros(len(ws), np.int64), wq, axis)
        t_b = mb.tensor(f"{name}/bias", b.shape, I32, np.float32(x_scale) * ws,
                        np.zeros(len(ws), np.int64), bq, 0)
        oc = w.shape[3] if dw else w.shape[0]
        t_o = mb.tensor(name, [1, 8, 8, oc], I8, *qa[out_key])
        if dw:
            mb.op("DEPTHWISE_CONV_2D", [x_t, t_w, t_b], [t_o], BO.DepthwiseConv2DOptions,
                  dw_opts(act))
        else:
            mb.op("CONV_2D", [x_t, t_w, t_b], [t_o], BO.Conv2DOptions, conv_opts(act))
        return t_o

    t_c0 = conv("block0/conv", t_in, qa["input"][0], p["c0_w"], p["c0_b"], "conv0", RELU)
    t_d1 = conv("block1/depthwise", t_c0, qa["conv0"][0], p["d1_w"], p["d1_b"], "dw1", RELU, True)
    t_p1 = conv("block1/pointwise", t_d1, qa["dw1"][0], p["p1_w"], p["p1_b"], "pw1", RELU)
    t_d2 = conv("block2/depthwise", t_p1, qa["pw1"][0], p["d2_w"], p["d2_b"], "dw2", RELU, True)
    t_p2 = conv("block2/pointwise", t_d2, qa["dw2"][0], p["p2_w"], p["p2_b"], "pw2", NONE)

    t_add = mb.tensor("block2/add", [1, 8, 8, 32], I8, *qa["add"])
    add_o = fb.AddOptionsT()
    add_o.fusedActivationFunction = RELU
    mb.op("ADD", [t_p2, t_p1], [t_add], BO.AddOptions, add_o)

    # Pooling and reshape keep their input's quantization, as the converter requires.
    t_pool = mb.tensor("head/avgpool", [1, 1, 1, 32], I8, *qa["add"])
    po = fb.Pool2DOptionsT()
    po.padding = fb.Padding.VALID
    po.strideW = po.strideH = 1
    po.filterWidth = po.filterHeight = 8
    po.fusedActivationFunction = NONE
    mb.op("AVERAGE_POOL_2D", [t_add], [t_pool], BO.Pool2DOptions, po)

    t_shape = mb.tensor("head/reshape/shape", [2], I32, None, None, np.array([1, 32], np.int32))
    t_flat = mb.tensor("head/reshape", [1, 32], I8, *qa["add"])
    ro = fb.ReshapeOptionsT()
    ro.newShape = [1, 32]
    mb.op("RESHAPE", [t_pool, t_shape], [t_flat], BO.ReshapeOptions, ro)

    wq, ws = weights_per_tensor(p["fc_w"])
    bq = bias_q(p["fc_b"], qa["add"][0], ws)
    t_fw = mb.tensor("head/fc/weights", [10, 32], I8, ws, [0], wq)
    t_fb = mb.tensor("head/fc/bias", [10], I32, np.float32(qa["add"][0]) * ws, [0], bq)
    t_logits = mb.tensor("head/fc", [1, 10], I8, *qa["logits"])
    fo = fb.FullyConnectedOptionsT()
    fo.fusedActivationFunction = NONE
    mb.op("FULLY_CONNECTED", [t_flat, t_fw, t_fb], [t_logits], BO.FullyConnectedOptions, fo)

    t_prob = mb.tensor("probabilities", [1, 10], I8, np.float32(1.0 / 256.0), -128)
    so = fb.SoftmaxOptionsT()
    so.beta = 1.0
    mb.op("SOFTMAX", [t_logits], [t_prob], BO.SoftmaxOptions, so)

    return mb.finish([t_in], [t_prob], "snapuq example: digits CNN (int8, made by "
                     "scripts/make_example_model.py)"), qa["input"]


# ----------------------------------------------------------------------------------------------
# Verification in the official TFLM interpreter
# ----------------------------------------------------------------------------------------------
def tflm_predict(model_bytes, xq):
    it = runtime.Interpreter.from_bytes(model_bytes, arena_size=64 << 10)
    preds = []
    for s in range(len(xq)):
        it.set_input(xq[s].reshape(1, 8, 8, 1), 0)
        it.invoke()
        preds.append(int(np.argmax(it.get_output(0))))
    return np.array(preds)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(repo, "examples", "models"))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--min-accuracy", type=float, default=0.90,
                    help="fail when the int8 model's test accuracy in TFLM is below this")
    args = ap.parse_args()
    t0 = time.time()

    splits = load_splits(args.seed)
    print(f"digits: train {len(splits['train'][1])}, calib {N_CALIB}, dev {N_DEV}, "
          f"test {N_TEST}")
    p = train(splits, args.epochs, args.seed)
    float_acc = accuracy(p, *splits["test"])
    print(f"float model: test accuracy {float_acc:.4f} ({time.time() - t0:.1f} s)")

    # Activation ranges from the calibration split, as the converter's representative dataset.
    a, _ = forward(p, splits["calib"][0])
    ranges = {k: (a[k].min(), a[k].max()) for k in
              ("input", "conv0", "dw1", "pw1", "dw2", "pw2", "add", "logits")}
    ranges["input"] = (-1.0, 1.0)  # the input domain, not just what the split happens to hold
    model, (in_scale, in_zp) = build_model(p, ranges)

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "digits_cnn.tflite")
    with open(path, "wb") as f:
        f.write(model)
    q = {k: quantize_input(splits[k][0], in_scale, in_zp) for k in ("calib", "dev", "test")}
    for k in ("calib", "dev", "test"):
        np.save(os.path.join(args.out, f"digits_{k}.npy"), q[k])
    for k in ("dev", "test"):
        np.save(os.path.join(args.out, f"digits_{k}_labels.npy"), splits[k][1])

    int8_acc = float(np.mean(tflm_predict(model, q["test"]) == splits["test"][1]))
    dev_acc = float(np.mean(tflm_predict(model, q["dev"]) == splits["dev"][1]))
    print(f"int8 model in TFLM: test accuracy {int8_acc:.4f}, dev accuracy {dev_acc:.4f}")
    print(f"wrote {path} ({len(model)} bytes), input scale {in_scale:.8f} zero point {in_zp}, "
          f"in {time.time() - t0:.1f} s")
    if int8_acc < args.min_accuracy:
        sys.exit(f"int8 test accuracy {int8_acc:.4f} is below --min-accuracy "
                 f"{args.min_accuracy}: train longer (--epochs) or check the quantization")


if __name__ == "__main__":
    main()
