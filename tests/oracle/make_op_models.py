#!/usr/bin/env python3
"""Write tiny int8 single-op .tflite models that exercise what the shared MLPerf models lack
(MAX_POOL_2D, MUL, MEAN, PAD, CONCATENATION, QUANTIZE, DEQUANTIZE, RELU, RELU6, LOGISTIC,
broadcasting ADD/MUL, per-channel FULLY_CONNECTED, dilated/strided convs, depth multiplier 2,
softmax with beta != 1), so the executor can be compared with the TFLM oracle op by op.

    make_op_models.py --out DIR

Builds the flatbuffers with the schema object API that ships in PyPI `tflite-micro`
(`runtime.schema_fb`), so the files are exactly what that TFLM build reads. Weights come from a
fixed numpy seed: the models are the same on every run.
"""
import argparse
import os

import flatbuffers
import numpy as np
from tflite_micro.python.tflite_micro import runtime

S = runtime.schema_fb
BO = S.BuiltinOperator
OPT = S.BuiltinOptions
TT = S.TensorType
ACT = S.ActivationFunctionType
PAD = S.Padding


class Builder:
    """Collects tensors, buffers and operators of one single-subgraph model."""

    def __init__(self):
        self.buffers = [S.BufferT()]  # buffer 0: the empty sentinel activations point to
        self.tensors = []
        self.ops = []
        self.codes = []

    def tensor(self, name, shape, ttype=TT.INT8, scale=None, zp=None, data=None, qdim=0):
        t = S.TensorT()
        t.name = name
        t.shape = np.array(shape, dtype=np.int32)
        t.type = ttype
        t.buffer = 0
        if data is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        if scale is not None:
            q = S.QuantizationParametersT()
            q.scale = np.array(scale, dtype=np.float32).reshape(-1)
            q.zeroPoint = np.array(zp if zp is not None else 0, dtype=np.int64).reshape(-1)
            if q.zeroPoint.size == 1 and q.scale.size > 1:
                q.zeroPoint = np.zeros(q.scale.size, dtype=np.int64)
            q.quantizedDimension = qdim
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code, ins, outs, opt_type=OPT.NONE, opts=None):
        idx = None
        for k, c in enumerate(self.codes):
            if c.builtinCode == code:
                idx = k
        if idx is None:
            c = S.OperatorCodeT()
            c.builtinCode = code
            c.deprecatedBuiltinCode = min(code, 127)
            c.version = 1
            self.codes.append(c)
            idx = len(self.codes) - 1
        o = S.OperatorT()
        o.opcodeIndex = idx
        o.inputs = np.array(ins, dtype=np.int32)
        o.outputs = np.array(outs, dtype=np.int32)
        o.builtinOptionsType = opt_type
        o.builtinOptions = opts
        self.ops.append(o)

    def save(self, path, inputs, outputs):
        sg = S.SubGraphT()
        sg.tensors = self.tensors
        sg.inputs = np.array(inputs, dtype=np.int32)
        sg.outputs = np.array(outputs, dtype=np.int32)
        sg.operators = self.ops
        sg.name = "main"
        m = S.ModelT()
        m.version = 3
        m.operatorCodes = self.codes
        m.subgraphs = [sg]
        m.buffers = self.buffers
        m.description = "snapuq single-op oracle model"
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        with open(path, "wb") as f:
            f.write(b.Output())


def pool_opts(fh, fw, s, padding, act=ACT.NONE):
    o = S.Pool2DOptionsT()
    o.filterHeight, o.filterWidth, o.strideH, o.strideW = fh, fw, s, s
    o.padding, o.fusedActivationFunction = padding, act
    return o


def act_opts(cls, act):
    o = cls()
    o.fusedActivationFunction = act
    return o


def make_pool(out, code, name, shape, fh, s, padding, act):
    b = Builder()
    x = b.tensor("x", shape, scale=0.05, zp=3)
    oh = (shape[1] + s - 1) // s if padding == PAD.SAME else (shape[1] - fh + s) // s
    ow = (shape[2] + s - 1) // s if padding == PAD.SAME else (shape[2] - fh + s) // s
    y = b.tensor("y", [shape[0], oh, ow, shape[3]], scale=0.05, zp=3)
    b.op(code, [x], [y], OPT.Pool2DOptions, pool_opts(fh, fh, s, padding, act))
    b.save(os.path.join(out, name), [x], [y])


def make_binary(out, name, code, sa, sb, so, act, quant):
    b = Builder()
    (s1, z1), (s2, z2), (s3, z3) = quant
    a = b.tensor("a", sa, scale=s1, zp=z1)
    c = b.tensor("b", sb, scale=s2, zp=z2)
    y = b.tensor("y", so, scale=s3, zp=z3)
    cls, ot = (S.AddOptionsT, OPT.AddOptions) if code == BO.ADD else (S.MulOptionsT, OPT.MulOptions)
    b.op(code, [a, c], [y], ot, act_opts(cls, act))
    b.save(os.path.join(out, name), [a, c], [y])


def make_mean(out, name, shape, axes, keep, q_in, q_out):
    b = Builder()
    x = b.tensor("x", shape, scale=q_in[0], zp=q_in[1])
    ax = b.tensor("axes", [len(axes)], TT.INT32, data=np.array(axes, dtype=np.int32))
    red = [d if d >= 0 else d + len(shape) for d in axes]
    oshape = [1 if i in red else n for i, n in enumerate(shape)] if keep else \
        [n for i, n in enumerate(shape) if i not in red]
    y = b.tensor("y", oshape, scale=q_out[0], zp=q_out[1])
    o = S.ReducerOptionsT()
    o.keepDims = keep
    b.op(BO.MEAN, [x, ax], [y], OPT.ReducerOptions, o)
    b.save(os.path.join(out, name), [x], [y])


def make_pad(out):
    b = Builder()
    shape, pads = [1, 4, 5, 3], [[0, 0], [1, 2], [2, 0], [0, 0]]
    x = b.tensor("x", shape, scale=0.1, zp=-7)
    p = b.tensor("paddings", [4, 2], TT.INT32, data=np.array(pads, dtype=np.int32))
    y = b.tensor("y", [n + a + c for n, (a, c) in zip(shape, pads)], scale=0.1, zp=-7)
    b.op(BO.PAD, [x, p], [y], OPT.PadOptions, S.PadOptionsT())
    b.save(os.path.join(out, "pad.tflite"), [x], [y])


def make_concat(out, name, shapes, axis):
    b = Builder()
    xs = [b.tensor(f"x{k}", s, scale=0.02, zp=1) for k, s in enumerate(shapes)]
    oshape = list(shapes[0])
    oshape[axis] = sum(s[axis] for s in shapes)
    y = b.tensor("y", oshape, scale=0.02, zp=1)
    o = S.ConcatenationOptionsT()
    o.axis = axis
    b.op(BO.CONCATENATION, xs, [y], OPT.ConcatenationOptions, o)
    b.save(os.path.join(out, name), xs, [y])


def make_unary(out, name, code, in_q, out_q, in_type=TT.INT8, out_type=TT.INT8, shape=(1, 6, 7)):
    b = Builder()
    x = b.tensor("x", list(shape), in_type, *(in_q if in_q else (None, None)))
    y = b.tensor("y", list(shape), out_type, *(out_q if out_q else (None, None)))
    b.op(code, [x], [y])
    b.save(os.path.join(out, name), [x], [y])


def make_fc_per_channel(out, rng):
    b = Builder()
    units, depth = 8, 16
    w_scales = rng.uniform(0.002, 0.02, units).astype(np.float32)
    x = b.tensor("x", [2, depth], scale=0.04, zp=-3)
    w = b.tensor("w", [units, depth], scale=w_scales, zp=0, qdim=0,
                 data=rng.integers(-127, 128, (units, depth)).astype(np.int8))
    bias = b.tensor("bias", [units], TT.INT32, scale=w_scales * np.float32(0.04), zp=0, qdim=0,
                    data=rng.integers(-3000, 3000, units).astype(np.int32))
    y = b.tensor("y", [2, units], scale=0.06, zp=5)
    o = S.FullyConnectedOptionsT()
    o.fusedActivationFunction = ACT.RELU
    b.op(BO.FULLY_CONNECTED, [x, w, bias], [y], OPT.FullyConnectedOptions, o)
    b.save(os.path.join(out, "fc_per_channel.tflite"), [x], [y])


def make_conv(out, rng, name, stride, dil, padding, per_channel):
    b = Builder()
    ic, oc, k = 4, 6, 3
    ih = iw = 11
    eff = (k - 1) * dil + 1
    oh = (ih + stride - 1) // stride if padding == PAD.SAME else (ih - eff + stride) // stride
    ws = rng.uniform(0.003, 0.01, oc).astype(np.float32) if per_channel else np.float32([0.006])
    x = b.tensor("x", [1, ih, iw, ic], scale=0.03, zp=-10)
    w = b.tensor("w", [oc, k, k, ic], scale=ws, zp=0, qdim=0,
                 data=rng.integers(-127, 128, (oc, k, k, ic)).astype(np.int8))
    bias = b.tensor("bias", [oc], TT.INT32, scale=(ws * np.float32(0.03)) * np.ones(oc, np.float32),
                    zp=0, data=rng.integers(-2000, 2000, oc).astype(np.int32))
    y = b.tensor("y", [1, oh, oh, oc], scale=0.05, zp=2)
    o = S.Conv2DOptionsT()
    o.padding, o.strideH, o.strideW = padding, stride, stride
    o.dilationHFactor = o.dilationWFactor = dil
    o.fusedActivationFunction = ACT.RELU6
    b.op(BO.CONV_2D, [x, w, bias], [y], OPT.Conv2DOptions, o)
    b.save(os.path.join(out, name), [x], [y])


def make_depthwise_mult2(out, rng):
    b = Builder()
    ic, mult, k = 3, 2, 3
    oc = ic * mult
    ws = rng.uniform(0.004, 0.02, oc).astype(np.float32)
    x = b.tensor("x", [1, 8, 8, ic], scale=0.03, zp=4)
    w = b.tensor("w", [1, k, k, oc], scale=ws, zp=0, qdim=3,
                 data=rng.integers(-127, 128, (1, k, k, oc)).astype(np.int8))
    bias = b.tensor("bias", [oc], TT.INT32, scale=ws * np.float32(0.03), zp=0,
                    data=rng.integers(-500, 500, oc).astype(np.int32))
    y = b.tensor("y", [1, 4, 4, oc], scale=0.04, zp=-1)
    o = S.DepthwiseConv2DOptionsT()
    o.padding, o.strideH, o.strideW, o.depthMultiplier = PAD.SAME, 2, 2, mult
    o.dilationHFactor = o.dilationWFactor = 1
    b.op(BO.DEPTHWISE_CONV_2D, [x, w, bias], [y], OPT.DepthwiseConv2DOptions, o)
    b.save(os.path.join(out, "depthwise_mult2.tflite"), [x], [y])


def make_softmax(out):
    b = Builder()
    x = b.tensor("x", [3, 7], scale=0.2, zp=6)
    y = b.tensor("y", [3, 7], scale=1.0 / 256, zp=-128)
    o = S.SoftmaxOptionsT()
    o.beta = 0.7
    b.op(BO.SOFTMAX, [x], [y], OPT.SoftmaxOptions, o)
    b.save(os.path.join(out, "softmax_beta.tflite"), [x], [y])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(20261122)
    out = args.out
    make_pool(out, BO.MAX_POOL_2D, "max_pool_same.tflite", [1, 9, 9, 5], 3, 2, PAD.SAME, ACT.RELU)
    make_pool(out, BO.MAX_POOL_2D, "max_pool_valid.tflite", [2, 6, 6, 3], 2, 2, PAD.VALID, ACT.NONE)
    make_pool(out, BO.AVERAGE_POOL_2D, "avg_pool_same.tflite", [1, 7, 7, 4], 3, 2, PAD.SAME, ACT.NONE)
    make_binary(out, "mul.tflite", BO.MUL, [1, 4, 4, 6], [1, 4, 4, 6], [1, 4, 4, 6], ACT.RELU,
                [(0.05, 2), (0.03, -5), (0.02, -9)])
    make_binary(out, "mul_broadcast.tflite", BO.MUL, [1, 4, 4, 6], [1, 1, 1, 6], [1, 4, 4, 6],
                ACT.NONE, [(0.05, 2), (0.1, 0), (0.04, 1)])
    make_binary(out, "add_broadcast.tflite", BO.ADD, [1, 3, 1, 5], [1, 1, 4, 5], [1, 3, 4, 5],
                ACT.RELU6, [(0.05, 2), (0.11, -3), (0.03, -20)])
    make_binary(out, "add_rank_broadcast.tflite", BO.ADD, [2, 3, 4], [4], [2, 3, 4],
                ACT.NONE, [(0.02, 0), (0.07, 10), (0.05, 1)])
    make_mean(out, "mean_spatial.tflite", [1, 6, 6, 8], [1, 2], True, (0.05, 3), (0.02, -4))
    make_mean(out, "mean_same_quant.tflite", [1, 5, 5, 3], [1, 2], False, (0.05, 3), (0.05, 3))
    make_mean(out, "mean_last_axis.tflite", [2, 3, 7], [-1], False, (0.1, 0), (0.03, 5))
    make_pad(out)
    make_concat(out, "concat_channels.tflite", [[1, 3, 3, 2], [1, 3, 3, 5]], 3)
    make_concat(out, "concat_rows.tflite", [[1, 2, 4], [1, 3, 4], [1, 1, 4]], 1)
    make_unary(out, "quantize_f32.tflite", BO.QUANTIZE, None, (0.07, -3), TT.FLOAT32, TT.INT8)
    make_unary(out, "requantize.tflite", BO.QUANTIZE, (0.05, 4), (0.02, -6))
    make_unary(out, "dequantize.tflite", BO.DEQUANTIZE, (0.05, 4), None, TT.INT8, TT.FLOAT32)
    make_unary(out, "relu.tflite", BO.RELU, (0.05, 4), (0.03, -128))
    make_unary(out, "relu6.tflite", BO.RELU6, (0.04, -9), (0.04, -9))
    make_unary(out, "logistic.tflite", BO.LOGISTIC, (0.06, 7), (1.0 / 256, -128))
    make_fc_per_channel(out, rng)
    make_conv(out, rng, "conv_dilated.tflite", 1, 2, PAD.SAME, True)
    make_conv(out, rng, "conv_strided_valid.tflite", 2, 1, PAD.VALID, False)
    make_depthwise_mult2(out, rng)
    make_softmax(out)


if __name__ == "__main__":
    main()
