//! The interpreter: parses a model (verified flatbuffer), prepares every op once (TFLM's
//! Prepare: multipliers, padding, shape checks), plans one arena, and runs the ops in order.
//!
//! Memory: the caller passes one `&mut [u8]` arena. It holds the planned activation tensors
//! (greedy plan over lifetimes, or every tensor kept alive with `preserve_all`) followed by the
//! persistent per-node data (per-channel multipliers, biases, filter sums, custom-op state).
//! Constant tensors are read in place from the model bytes. Metadata lives in fixed-capacity
//! arrays sized by the const generics, so nothing is allocated.
use crate::error::{ErrorKind, ExecError, Name};
use crate::kernels::{
    self, add, broadcast::Broadcast, conv, depthwise, fully_connected, mean, mul, pad, pooling,
    quantize, softmax,
};
use crate::plan::{self, Request, ALIGN};
use crate::quant::{activation_range_i8, compute_out_size, compute_padding, Activation};
use crate::resolver::{CustomKernel, EvalContext, OpResolver, PrepareContext, MAX_NODE_IO};
use crate::shape::{Shape, MAX_DIMS};
use crate::tensor::{DType, Location, Quant, TensorInfo, TensorMut, TensorView};
// The firmware builds against the lean schema (see snapuq-schema's `lean` module): the same
// bytes, a verifier that only covers what this file reads.
#[cfg(feature = "lean-schema")]
use snapuq_schema::lean::tflite;
#[cfg(not(feature = "lean-schema"))]
use snapuq_schema::tflite;

/// Default capacity for tensors in subgraph 0.
pub const DEFAULT_MAX_TENSORS: usize = 256;
/// Default capacity for operators in subgraph 0.
pub const DEFAULT_MAX_OPS: usize = 128;

/// Planning options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Keep every tensor alive until the end (TFLM's kPreserveAllTensors), so all intermediates
    /// can be read after `invoke`. Costs arena.
    pub preserve_all: bool,
    /// Keep an i16 copy of every CONV_2D filter in the persistent arena (2 bytes per weight) so
    /// the hot loop skips widening: faster on hosts, usually not worth the RAM on an MCU.
    /// Needs the `std` feature (without it the option is ignored and the code left out).
    pub widen_filters: bool,
}

/// What `prepare` derived for one node. `Copy` is first so an empty node is all zero bytes
/// (an interpreter in a `static` then lands in .bss, not in flash-backed .data).
#[derive(Clone, Copy, Debug)]
enum Kernel {
    Copy,
    Conv(conv::ConvParams, bool),
    Depthwise(depthwise::DepthwiseParams),
    FullyConnected(fully_connected::FullyConnectedParams),
    AvgPool(pooling::PoolParams),
    MaxPool(pooling::PoolParams),
    /// `true`: the inputs' shapes differ and broadcast (the strides are derived at eval, which
    /// costs a few dozen instructions and keeps 76 bytes per node out of the tables).
    Add(add::AddParams, bool),
    Mul(mul::MulParams, bool),
    Mean(mean::MeanParams),
    Pad(pad::PadParams),
    Softmax(softmax::SoftmaxParams),
    /// Each input contributes `dim(axis) * inner_bytes` bytes per outer step (read from the
    /// input's shape at eval).
    Concat {
        outer: usize,
        inner_bytes: usize,
        axis: usize,
    },
    QuantizeF32 {
        scale: f32,
        zero_point: i32,
    },
    Requantize(quantize::RequantizeParams),
    Dequantize {
        scale: f32,
        zero_point: i32,
    },
    Relu(crate::kernels::activations::ReluParams),
    Relu6 {
        lower: i8,
        upper: i8,
    },
    Logistic(crate::kernels::logistic::LogisticParams),
    Custom {
        slot: usize,
        persistent_bytes: usize,
    },
}

/// One prepared operator (its flatbuffer `Operator` is looked up by index when needed).
#[derive(Clone, Copy)]
struct Node {
    kernel: Kernel,
    /// Persistent words `[start, start + len)`.
    words: (usize, usize),
    /// CONV_2D / DEPTHWISE / FULLY_CONNECTED: the bias is read in place from the model (see
    /// `kernels::per_channel_words`), not copied into the persistent words.
    bias_in_model: bool,
    /// CONV_2D on the patch path: offset in the activation region of its gathered patch
    /// (`2 * patch_len` bytes), placed by `plan` in a hole no tensor live at this node uses.
    scratch: usize,
}

impl Node {
    const EMPTY: Node = Node {
        kernel: Kernel::Copy,
        words: (0, 0),
        bias_in_model: false,
        scratch: 0,
    };
}

/// Everything computed before an arena is attached. All-zero when empty (see [`Kernel`]).
struct Prepared<'m, 'r, const T: usize, const N: usize> {
    /// The model (`None` until loaded).
    model: Option<&'m [u8]>,
    subgraph: Option<tflite::SubGraph<'m>>,
    tensors: [TensorInfo; T],
    num_tensors: usize,
    nodes: [Node; N],
    num_nodes: usize,
    resolver: OpResolver<'r>,
    inputs: [usize; MAX_NODE_IO],
    num_inputs: usize,
    outputs: [usize; MAX_NODE_IO],
    num_outputs: usize,
    activation_bytes: usize,
    persistent_words: usize,
    options: Options,
}

/// An int8 TFLite interpreter over one caller-provided arena. `T` and `N` bound the number of
/// tensors and operators of subgraph 0.
pub struct Interpreter<
    'm,
    'a,
    'r,
    const T: usize = DEFAULT_MAX_TENSORS,
    const N: usize = DEFAULT_MAX_OPS,
> {
    p: Prepared<'m, 'r, T, N>,
    /// Activation part of the arena (`None` until loaded).
    act: Option<&'a mut [u8]>,
    /// Persistent part of the arena, in words.
    persistent: Option<&'a mut [i32]>,
}

fn err(kind: ErrorKind) -> ExecError {
    ExecError::new(kind)
}

fn activation(code: tflite::ActivationFunctionType) -> Result<Activation, ExecError> {
    match code.0 {
        0 => Ok(Activation::None),
        1 => Ok(Activation::Relu),
        2 => Ok(Activation::ReluN1To1),
        3 => Ok(Activation::Relu6),
        _ => Err(err(ErrorKind::BadOption(
            "fused activation (only NONE, RELU, RELU_N1_TO_1, RELU6 for int8)",
        ))),
    }
}

fn positive(v: i32, what: &'static str) -> Result<usize, ExecError> {
    if v <= 0 {
        Err(err(ErrorKind::BadOption(what)))
    } else {
        Ok(v as usize)
    }
}

fn is_same_padding(p: tflite::Padding) -> Result<bool, ExecError> {
    match p.0 {
        0 => Ok(true),
        1 => Ok(false),
        _ => Err(err(ErrorKind::BadOption("padding must be SAME or VALID"))),
    }
}

/// Bytes of a constant tensor: model bytes of its buffer.
fn const_slice(bytes: &[u8], loc: Location) -> Option<&[u8]> {
    match loc {
        Location::Const { start, len } => bytes.get(start..start.checked_add(len)?),
        _ => None,
    }
}

impl<'m, 'r, const T: usize, const N: usize> Prepared<'m, 'r, T, N> {
    const EMPTY: Self = Prepared {
        model: None,
        subgraph: None,
        tensors: [TensorInfo::EMPTY; T],
        num_tensors: 0,
        nodes: [Node::EMPTY; N],
        num_nodes: 0,
        resolver: OpResolver::new(),
        inputs: [0; MAX_NODE_IO],
        num_inputs: 0,
        outputs: [0; MAX_NODE_IO],
        num_outputs: 0,
        activation_bytes: 0,
        persistent_words: 0,
        options: Options {
            preserve_all: false,
            widen_filters: false,
        },
    };

    /// Forgets any loaded model (counts only: the tables are rewritten up to the counts).
    fn clear(&mut self) {
        self.model = None;
        self.subgraph = None;
        self.num_tensors = 0;
        self.num_nodes = 0;
        self.num_inputs = 0;
        self.num_outputs = 0;
        self.activation_bytes = 0;
        self.persistent_words = 0;
    }

    /// Parses, prepares and plans `bytes` in place (no copy of the tables).
    fn load(
        &mut self,
        bytes: &'m [u8],
        resolver: &OpResolver<'r>,
        options: Options,
    ) -> Result<(), ExecError> {
        self.clear();
        let res = self.load_inner(bytes, resolver, options);
        if res.is_err() {
            self.clear();
        }
        res
    }

    fn load_inner(
        &mut self,
        bytes: &'m [u8],
        resolver: &OpResolver<'r>,
        options: Options,
    ) -> Result<(), ExecError> {
        if bytes.len() >= 8 && !tflite::model_buffer_has_identifier(bytes) {
            return Err(err(ErrorKind::WrongIdentifier));
        }
        let model = verify_model(bytes)?;
        let subgraph = model
            .subgraphs()
            .and_then(|s| (!s.is_empty()).then(|| s.get(0)))
            .ok_or(err(ErrorKind::MissingField("a subgraph")))?;
        self.model = Some(bytes);
        self.subgraph = Some(subgraph);
        self.resolver = *resolver;
        self.options = options;
        self.read_tensors(&model)?;
        self.read_io()?;
        self.prepare_ops(&model)?;
        self.plan(options)
    }

    /// The model bytes (empty before a model is loaded).
    fn bytes(&self) -> &'m [u8] {
        self.model.unwrap_or(&[])
    }

    fn subgraph(&self) -> Result<tflite::SubGraph<'m>, ExecError> {
        self.subgraph
            .ok_or(err(ErrorKind::MissingField("a subgraph (no model loaded)")))
    }

    /// Operator `k` of subgraph 0.
    fn operator(&self, k: usize) -> Result<tflite::Operator<'m>, ExecError> {
        self.subgraph()?
            .operators()
            .filter(|ops| k < ops.len())
            .map(|ops| ops.get(k))
            .ok_or(err(ErrorKind::MissingField("subgraph operators")))
    }

    // Never inlined: keeps the verifier's and the other load steps' locals out of the deepest
    // stack chain (load → prepare_op → a custom op's prepare).
    #[inline(never)]
    fn read_tensors(&mut self, model: &tflite::Model<'m>) -> Result<(), ExecError> {
        let tensors = self
            .subgraph()?
            .tensors()
            .ok_or(err(ErrorKind::MissingField("subgraph tensors")))?;
        if tensors.len() > T {
            return Err(err(ErrorKind::Capacity("tensors")));
        }
        let buffers = model.buffers();
        for (i, t) in tensors.iter().enumerate() {
            let at = |e: ExecError| e.at_tensor(i);
            let shape = Shape::from_i32(
                t.shape()
                    .map(|s| s.iter().collect::<ShapeIter>())
                    .unwrap_or_default()
                    .iter(),
            )
            .ok_or_else(|| at(err(ErrorKind::ShapeMismatch)))?;
            let dtype = DType::from_code(t.type_().0);
            let mut quant = Quant::default();
            if let Some(q) = t.quantization() {
                if let Some(s) = q.scale() {
                    quant.num_scales = s.len();
                    if !s.is_empty() {
                        quant.scale = s.get(0);
                    }
                }
                if let Some(z) = q.zero_point() {
                    if !z.is_empty() {
                        quant.zero_point = i32::try_from(z.get(0))
                            .map_err(|_| at(err(ErrorKind::BadQuantization)))?;
                    }
                }
                quant.quantized_dimension = q.quantized_dimension();
            }
            // An int8 zero point outside the int8 range is a corrupt model; refused here so
            // the kernels' offset arithmetic never sees it (found by fuzzing `run`).
            if dtype == DType::Int8 && !(-128..=127).contains(&quant.zero_point) {
                return Err(at(err(ErrorKind::BadQuantization)));
            }
            let bytes_len = match dtype.size() {
                Some(sz) => shape
                    .num_elements()
                    .checked_mul(sz)
                    .ok_or_else(|| at(err(ErrorKind::BadTensorSize)))?,
                None => 0,
            };
            let mut location = Location::None;
            let b = t.buffer() as usize;
            if b != 0 {
                let buf = buffers
                    .and_then(|bs| (b < bs.len()).then(|| bs.get(b)))
                    .ok_or_else(|| at(err(ErrorKind::BufferOutOfRange)))?;
                if let Some(d) = buf.data().filter(|d| !d.is_empty()) {
                    let start = d.bytes().as_ptr() as usize - self.bytes().as_ptr() as usize;
                    location = Location::Const {
                        start,
                        len: d.len(),
                    };
                } else if buf.offset() > 1 {
                    let start = usize::try_from(buf.offset())
                        .map_err(|_| at(err(ErrorKind::BufferOutOfRange)))?;
                    let len = usize::try_from(buf.size())
                        .map_err(|_| at(err(ErrorKind::BufferOutOfRange)))?;
                    if start
                        .checked_add(len)
                        .is_none_or(|e| e > self.bytes().len())
                    {
                        return Err(at(err(ErrorKind::BufferOutOfRange)));
                    }
                    location = Location::Const { start, len };
                }
            }
            if let Location::Const { len, .. } = location {
                if dtype.size().is_some() && len < bytes_len {
                    return Err(at(err(ErrorKind::BadTensorSize)));
                }
            }
            self.tensors[i] = TensorInfo {
                shape,
                dtype,
                quant,
                bytes: bytes_len,
                location,
            };
        }
        self.num_tensors = tensors.len();
        Ok(())
    }

    fn read_io(&mut self) -> Result<(), ExecError> {
        let ins = self
            .subgraph()?
            .inputs()
            .ok_or(err(ErrorKind::MissingField("subgraph inputs")))?;
        let outs = self
            .subgraph()?
            .outputs()
            .ok_or(err(ErrorKind::MissingField("subgraph outputs")))?;
        if ins.len() > MAX_NODE_IO || outs.len() > MAX_NODE_IO {
            return Err(err(ErrorKind::Capacity("subgraph inputs/outputs")));
        }
        for (k, i) in ins.iter().enumerate() {
            self.inputs[k] = self.check_index(i)?;
        }
        for (k, i) in outs.iter().enumerate() {
            self.outputs[k] = self.check_index(i)?;
        }
        self.num_inputs = ins.len();
        self.num_outputs = outs.len();
        Ok(())
    }

    fn check_index(&self, i: i32) -> Result<usize, ExecError> {
        if i < 0 || i as usize >= self.num_tensors {
            Err(err(ErrorKind::TensorIndexOutOfRange(i)))
        } else {
            Ok(i as usize)
        }
    }

    fn prepare_ops(&mut self, model: &tflite::Model<'m>) -> Result<(), ExecError> {
        let Some(ops) = self.subgraph()?.operators() else {
            return Ok(());
        };
        if ops.len() > N {
            return Err(err(ErrorKind::Capacity("operators")));
        }
        let codes = model.operator_codes();
        let mut words = 0usize;
        for (k, op) in ops.iter().enumerate() {
            let (kernel, w) = self.prepare_op(k, op, codes).map_err(|e| e.at_op(k))?;
            let bias_in_model = matches!(
                kernel,
                Kernel::Conv(..) | Kernel::Depthwise(_) | Kernel::FullyConnected(_)
            ) && self.bias_in_model(op.inputs())?;
            self.nodes[k] = Node {
                kernel,
                words: (words, w),
                bias_in_model,
                scratch: 0,
            };
            words += w;
        }
        self.num_nodes = ops.len();
        self.persistent_words = words;

        Ok(())
    }

    /// Tensor index of input `k` of `op` (`None` for an absent optional input).
    fn op_tensor(
        &self,
        list: Option<flatbuffers::Vector<'m, i32>>,
        k: usize,
    ) -> Result<Option<usize>, ExecError> {
        let list = list.ok_or(err(ErrorKind::WrongArity))?;
        if k >= list.len() {
            return Ok(None);
        }
        let i = list.get(k);
        if i < 0 {
            return Ok(None);
        }
        self.check_index(i).map(Some)
    }

    fn need(
        &self,
        list: Option<flatbuffers::Vector<'m, i32>>,
        k: usize,
    ) -> Result<(usize, TensorInfo), ExecError> {
        let i = self.op_tensor(list, k)?.ok_or(err(ErrorKind::WrongArity))?;
        Ok((i, self.tensors[i]))
    }

    fn need_i8(
        &self,
        list: Option<flatbuffers::Vector<'m, i32>>,
        k: usize,
    ) -> Result<(usize, TensorInfo), ExecError> {
        let (i, t) = self.need(list, k)?;
        if t.dtype != DType::Int8 {
            return Err(err(ErrorKind::UnsupportedType(t.dtype.code())).at_tensor(i));
        }
        if t.quant.scale.is_nan() || t.quant.scale <= 0.0 {
            return Err(err(ErrorKind::BadQuantization).at_tensor(i));
        }
        Ok((i, t))
    }

    fn need_const(
        &self,
        list: Option<flatbuffers::Vector<'m, i32>>,
        k: usize,
    ) -> Result<(usize, TensorInfo, &'m [u8]), ExecError> {
        let (i, t) = self.need(list, k)?;
        let d = const_slice(self.bytes(), t.location)
            .ok_or(err(ErrorKind::NotConstant).at_tensor(i))?;
        Ok((i, t, d))
    }

    fn const_i32s<'x>(&self, data: &'x [u8]) -> impl Iterator<Item = i32> + 'x {
        data.chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn prepare_op(
        &self,
        k: usize,
        op: tflite::Operator<'m>,
        codes: Option<
            flatbuffers::Vector<'m, flatbuffers::ForwardsUOffset<tflite::OperatorCode<'m>>>,
        >,
    ) -> Result<(Kernel, usize), ExecError> {
        let idx = op.opcode_index();
        let code = codes
            .and_then(|c| ((idx as usize) < c.len()).then(|| c.get(idx as usize)))
            .ok_or(err(ErrorKind::OpcodeIndexOutOfRange(idx)))?;
        let builtin = code
            .builtin_code()
            .0
            .max(i32::from(code.deprecated_builtin_code()));
        let ins = op.inputs();
        let outs = op.outputs();
        let n_outs = outs.map(|o| o.len()).unwrap_or(0);
        if n_outs == 0 || n_outs > MAX_NODE_IO || ins.map(|i| i.len()).unwrap_or(0) > MAX_NODE_IO {
            return Err(err(ErrorKind::WrongArity));
        }
        for j in 0..n_outs {
            let (o, t) = self.need(outs, j)?;
            if matches!(t.location, Location::Const { .. }) {
                return Err(
                    err(ErrorKind::BadOption("an op output is a constant tensor")).at_tensor(o),
                );
            }
            if t.dtype.size().is_none() {
                return Err(err(ErrorKind::UnsupportedType(t.dtype.code())).at_tensor(o));
            }
        }
        use tflite::BuiltinOperator as B;
        let bop = tflite::BuiltinOperator(builtin);
        let opts_missing = || err(ErrorKind::MissingField("the op's builtin options"));
        let kernel = match bop {
            B::CONV_2D => {
                let o = op
                    .builtin_options_as_conv_2_doptions()
                    .ok_or_else(opts_missing)?;
                let (_, x) = self.need_i8(ins, 0)?;
                let (fi, f, _) = self.need_const(ins, 1)?;
                let (_, y) = self.need_i8(outs, 0)?;
                if f.dtype != DType::Int8 {
                    return Err(err(ErrorKind::UnsupportedType(f.dtype.code())).at_tensor(fi));
                }
                let (xs, fs, ys) = (x.shape, f.shape, y.shape);
                if xs.rank() != 4 || fs.rank() != 4 || ys.rank() != 4 {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                let out_c = fs.dim(0);
                self.check_bias(ins, 2, out_c)?;
                self.check_channel_scales(fi, &f, out_c)?;
                let (sh, sw) = (
                    positive(o.stride_h(), "stride_h")?,
                    positive(o.stride_w(), "stride_w")?,
                );
                let (dh, dw) = (
                    positive(o.dilation_h_factor(), "dilation_h")?,
                    positive(o.dilation_w_factor(), "dilation_w")?,
                );
                let same = is_same_padding(o.padding())?;
                let geo = self.window(&xs, &ys, fs.dim(1), fs.dim(2), sh, sw, dh, dw, same)?;
                if ys.dim(3) != out_c
                    || ys.dim(0) != xs.dim(0)
                    || fs.dim(3) == 0
                    || xs.dim(3) % fs.dim(3) != 0
                {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                let (act_min, act_max) = activation_range_i8(
                    activation(o.fused_activation_function())?,
                    y.quant.scale,
                    y.quant.zero_point,
                );
                let p = conv::ConvParams {
                    batches: xs.dim(0),
                    in_h: xs.dim(1),
                    in_w: xs.dim(2),
                    in_c: xs.dim(3),
                    out_h: ys.dim(1),
                    out_w: ys.dim(2),
                    out_c,
                    k_h: fs.dim(1),
                    k_w: fs.dim(2),
                    filter_in_c: fs.dim(3),
                    stride_h: sh,
                    stride_w: sw,
                    dilation_h: dh,
                    dilation_w: dw,
                    pad_h: geo.0,
                    pad_w: geo.1,
                    input_offset: -x.quant.zero_point,
                    output_offset: y.quant.zero_point,
                    act_min,
                    act_max,
                };
                if out_c % (p.in_c / p.filter_in_c).max(1) != 0 {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                let widen =
                    cfg!(feature = "std") && self.options.widen_filters && p.filter_in_c == p.in_c;
                let extra = if widen {
                    conv::widened_len(&p).div_ceil(2)
                } else {
                    0
                };
                return Ok((
                    Kernel::Conv(p, widen),
                    kernels::per_channel_words(out_c, self.bias_in_model(ins)?) + extra,
                ));
            }
            B::DEPTHWISE_CONV_2D => {
                let o = op
                    .builtin_options_as_depthwise_conv_2_doptions()
                    .ok_or_else(opts_missing)?;
                let (_, x) = self.need_i8(ins, 0)?;
                let (fi, f, _) = self.need_const(ins, 1)?;
                let (_, y) = self.need_i8(outs, 0)?;
                if f.dtype != DType::Int8 {
                    return Err(err(ErrorKind::UnsupportedType(f.dtype.code())).at_tensor(fi));
                }
                let (xs, fs, ys) = (x.shape, f.shape, y.shape);
                if xs.rank() != 4 || fs.rank() != 4 || ys.rank() != 4 || fs.dim(0) != 1 {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                let out_c = fs.dim(3);
                if xs.dim(3) == 0
                    || out_c % xs.dim(3) != 0
                    || ys.dim(3) != out_c
                    || ys.dim(0) != xs.dim(0)
                {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                self.check_bias(ins, 2, out_c)?;
                self.check_channel_scales(fi, &f, out_c)?;
                let (sh, sw) = (
                    positive(o.stride_h(), "stride_h")?,
                    positive(o.stride_w(), "stride_w")?,
                );
                let (dh, dw) = (
                    positive(o.dilation_h_factor(), "dilation_h")?,
                    positive(o.dilation_w_factor(), "dilation_w")?,
                );
                let same = is_same_padding(o.padding())?;
                let geo = self.window(&xs, &ys, fs.dim(1), fs.dim(2), sh, sw, dh, dw, same)?;
                let (act_min, act_max) = activation_range_i8(
                    activation(o.fused_activation_function())?,
                    y.quant.scale,
                    y.quant.zero_point,
                );
                let p = depthwise::DepthwiseParams {
                    batches: xs.dim(0),
                    in_h: xs.dim(1),
                    in_w: xs.dim(2),
                    in_c: xs.dim(3),
                    out_h: ys.dim(1),
                    out_w: ys.dim(2),
                    depth_multiplier: out_c / xs.dim(3),
                    k_h: fs.dim(1),
                    k_w: fs.dim(2),
                    stride_h: sh,
                    stride_w: sw,
                    dilation_h: dh,
                    dilation_w: dw,
                    pad_h: geo.0,
                    pad_w: geo.1,
                    input_offset: -x.quant.zero_point,
                    output_offset: y.quant.zero_point,
                    act_min,
                    act_max,
                };
                return Ok((
                    Kernel::Depthwise(p),
                    kernels::per_channel_words(out_c, self.bias_in_model(ins)?),
                ));
            }
            B::FULLY_CONNECTED => {
                let o = op
                    .builtin_options_as_fully_connected_options()
                    .ok_or_else(opts_missing)?;
                let (_, x) = self.need_i8(ins, 0)?;
                let (fi, f, _) = self.need_const(ins, 1)?;
                let (_, y) = self.need_i8(outs, 0)?;
                if f.dtype != DType::Int8 {
                    return Err(err(ErrorKind::UnsupportedType(f.dtype.code())).at_tensor(fi));
                }
                if f.shape.rank() != 2 || o.weights_format().0 != 0 {
                    return Err(err(ErrorKind::ShapeMismatch).at_tensor(fi));
                }
                let (units, depth) = (f.shape.dim(0), f.shape.dim(1));
                if depth == 0 || x.shape.num_elements() % depth != 0 {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                let batches = x.shape.num_elements() / depth;
                if y.shape.num_elements() != batches * units {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                self.check_bias(ins, 2, units)?;
                self.check_channel_scales(fi, &f, units)?;
                let (act_min, act_max) = activation_range_i8(
                    activation(o.fused_activation_function())?,
                    y.quant.scale,
                    y.quant.zero_point,
                );
                let p = fully_connected::FullyConnectedParams {
                    batches,
                    depth,
                    units,
                    input_offset: -x.quant.zero_point,
                    filter_offset: -f.quant.zero_point,
                    output_offset: y.quant.zero_point,
                    act_min,
                    act_max,
                };
                return Ok((
                    Kernel::FullyConnected(p),
                    kernels::per_channel_words(units, self.bias_in_model(ins)?),
                ));
            }
            B::AVERAGE_POOL_2D | B::MAX_POOL_2D => {
                let o = op
                    .builtin_options_as_pool_2_doptions()
                    .ok_or_else(opts_missing)?;
                let (_, x) = self.need_i8(ins, 0)?;
                let (_, y) = self.need_i8(outs, 0)?;
                let (xs, ys) = (x.shape, y.shape);
                if xs.rank() != 4
                    || ys.rank() != 4
                    || xs.dim(0) != ys.dim(0)
                    || xs.dim(3) != ys.dim(3)
                {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                let (sh, sw) = (
                    positive(o.stride_h(), "stride_h")?,
                    positive(o.stride_w(), "stride_w")?,
                );
                let (fh, fw) = (
                    positive(o.filter_height(), "filter_height")?,
                    positive(o.filter_width(), "filter_width")?,
                );
                let same = is_same_padding(o.padding())?;
                let geo = self.window(&xs, &ys, fh, fw, sh, sw, 1, 1, same)?;
                let (act_min, act_max) = activation_range_i8(
                    activation(o.fused_activation_function())?,
                    y.quant.scale,
                    y.quant.zero_point,
                );
                let p = pooling::PoolParams {
                    batches: xs.dim(0),
                    in_h: xs.dim(1),
                    in_w: xs.dim(2),
                    channels: xs.dim(3),
                    out_h: ys.dim(1),
                    out_w: ys.dim(2),
                    filter_h: fh,
                    filter_w: fw,
                    stride_h: sh,
                    stride_w: sw,
                    pad_h: geo.0,
                    pad_w: geo.1,
                    act_min,
                    act_max,
                };
                if bop == B::AVERAGE_POOL_2D {
                    Kernel::AvgPool(p)
                } else {
                    Kernel::MaxPool(p)
                }
            }
            B::ADD | B::MUL => {
                let (_, a) = self.need_i8(ins, 0)?;
                let (_, b) = self.need_i8(ins, 1)?;
                let (_, y) = self.need_i8(outs, 0)?;
                let act = if bop == B::ADD {
                    activation(
                        op.builtin_options_as_add_options()
                            .map(|o| o.fused_activation_function())
                            .unwrap_or_default(),
                    )?
                } else {
                    activation(
                        op.builtin_options_as_mul_options()
                            .map(|o| o.fused_activation_function())
                            .unwrap_or_default(),
                    )?
                };
                let bc = if a.shape == b.shape {
                    if y.shape.num_elements() != a.shape.num_elements() {
                        return Err(err(ErrorKind::ShapeMismatch));
                    }
                    false
                } else {
                    let bc =
                        Broadcast::new(&a.shape, &b.shape).ok_or(err(ErrorKind::ShapeMismatch))?;
                    if bc.out != y.shape.extended::<MAX_DIMS>() {
                        return Err(err(ErrorKind::ShapeMismatch));
                    }
                    true
                };
                let (q1, q2, qo) = (a.quant, b.quant, y.quant);
                if bop == B::ADD {
                    Kernel::Add(
                        add::prepare(
                            q1.scale,
                            q1.zero_point,
                            q2.scale,
                            q2.zero_point,
                            qo.scale,
                            qo.zero_point,
                            act,
                        ),
                        bc,
                    )
                } else {
                    Kernel::Mul(
                        mul::prepare(
                            q1.scale,
                            q1.zero_point,
                            q2.scale,
                            q2.zero_point,
                            qo.scale,
                            qo.zero_point,
                            act,
                        ),
                        bc,
                    )
                }
            }
            B::MEAN => {
                let (_, x) = self.need_i8(ins, 0)?;
                let (ai, at, axes) = self.need_const(ins, 1)?;
                let (_, y) = self.need_i8(outs, 0)?;
                if at.dtype != DType::Int32 {
                    return Err(err(ErrorKind::UnsupportedType(at.dtype.code())).at_tensor(ai));
                }
                let mut ax = [0i32; MAX_DIMS];
                let mut n = 0;
                for a in self.const_i32s(axes).take(at.shape.num_elements()) {
                    if n == MAX_DIMS {
                        return Err(err(ErrorKind::BadOption("too many MEAN axes")).at_tensor(ai));
                    }
                    ax[n] = a;
                    n += 1;
                }
                let p = mean::prepare(
                    &x.shape,
                    &ax[..n],
                    x.quant.scale,
                    x.quant.zero_point,
                    y.quant.scale,
                    y.quant.zero_point,
                )
                .ok_or(err(ErrorKind::BadOption("MEAN axis out of range")).at_tensor(ai))?;
                let kept: usize = (0..p.rank)
                    .filter(|&d| !p.reduced[d])
                    .map(|d| p.input[d])
                    .product();
                if kept != y.shape.num_elements() {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                Kernel::Mean(p)
            }
            B::PAD | B::PADV2 => {
                let (_, x) = self.need_i8(ins, 0)?;
                let (pi, pt, pads) = self.need_const(ins, 1)?;
                let (_, y) = self.need_i8(outs, 0)?;
                let rank = x.shape.rank();
                if pt.dtype != DType::Int32
                    || pt.shape.num_elements() != 2 * rank
                    || y.shape.rank() != rank
                {
                    return Err(err(ErrorKind::ShapeMismatch).at_tensor(pi));
                }
                let mut p = pad::PadParams {
                    rank,
                    pad_value: y.quant.zero_point.clamp(-128, 127) as i8,
                    ..Default::default()
                };
                let vals: [i32; 2 * MAX_DIMS] = {
                    let mut v = [0i32; 2 * MAX_DIMS];
                    for (dst, src) in v.iter_mut().zip(self.const_i32s(pads)) {
                        *dst = src;
                    }
                    v
                };
                for d in 0..rank {
                    let (before, after) = (vals[2 * d], vals[2 * d + 1]);
                    if before < 0 || after < 0 {
                        return Err(err(ErrorKind::BadOption("negative padding")).at_tensor(pi));
                    }
                    p.input[d] = x.shape.dim(d);
                    p.before[d] = before as usize;
                    p.output[d] = x.shape.dim(d) + before as usize + after as usize;
                    if p.output[d] != y.shape.dim(d) {
                        return Err(err(ErrorKind::ShapeMismatch));
                    }
                }
                if bop == B::PADV2 {
                    if let Some((vi, vt, v)) = self
                        .op_tensor(ins, 2)?
                        .map(|i| (i, self.tensors[i]))
                        .and_then(|(i, t)| const_slice(self.bytes(), t.location).map(|d| (i, t, d)))
                    {
                        if vt.dtype != DType::Int8 || v.is_empty() {
                            return Err(
                                err(ErrorKind::UnsupportedType(vt.dtype.code())).at_tensor(vi)
                            );
                        }
                        p.pad_value = v[0] as i8;
                    }
                }
                Kernel::Pad(p)
            }
            B::RESHAPE | B::SQUEEZE | B::EXPAND_DIMS => {
                let (xi, x) = self.need(ins, 0)?;
                let (_, y) = self.need(outs, 0)?;
                if x.dtype != y.dtype || x.bytes != y.bytes {
                    return Err(err(ErrorKind::ShapeMismatch).at_tensor(xi));
                }
                Kernel::Copy
            }
            B::SOFTMAX => {
                let o = op
                    .builtin_options_as_softmax_options()
                    .ok_or_else(opts_missing)?;
                let (_, x) = self.need_i8(ins, 0)?;
                let (yi, y) = self.need_i8(outs, 0)?;
                if x.shape != y.shape || x.shape.rank() == 0 {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                if y.quant.zero_point != -128 {
                    return Err(err(ErrorKind::BadQuantization).at_tensor(yi));
                }
                Kernel::Softmax(softmax::prepare(
                    o.beta(),
                    x.quant.scale,
                    x.shape.dim(x.shape.rank() - 1),
                ))
            }
            B::CONCATENATION => {
                let o = op
                    .builtin_options_as_concatenation_options()
                    .ok_or_else(opts_missing)?;
                if activation(o.fused_activation_function())? != Activation::None {
                    return Err(err(ErrorKind::BadOption(
                        "fused activation on CONCATENATION",
                    )));
                }
                let (_, y) = self.need(outs, 0)?;
                let rank = y.shape.rank() as i32;
                let axis = if o.axis() < 0 {
                    o.axis() + rank
                } else {
                    o.axis()
                };
                if axis < 0 || axis >= rank {
                    return Err(err(ErrorKind::BadOption("concatenation axis out of range")));
                }
                let axis = axis as usize;
                let esz = y
                    .dtype
                    .size()
                    .ok_or(err(ErrorKind::UnsupportedType(y.dtype.code())))?;
                let outer: usize = y.shape.dims()[..axis].iter().product();
                let inner: usize = y.shape.dims()[axis + 1..].iter().product();
                let n = ins.map(|i| i.len()).unwrap_or(0);
                let mut total = 0;
                for j in 0..n {
                    let (ti, t) = self.need(ins, j)?;
                    if t.dtype != y.dtype || t.shape.rank() != y.shape.rank() {
                        return Err(err(ErrorKind::ShapeMismatch).at_tensor(ti));
                    }
                    for d in 0..y.shape.rank() {
                        if d != axis && t.shape.dim(d) != y.shape.dim(d) {
                            return Err(err(ErrorKind::ShapeMismatch).at_tensor(ti));
                        }
                    }
                    total += t.shape.dim(axis);
                }
                if total != y.shape.dim(axis) {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                Kernel::Concat {
                    outer,
                    inner_bytes: inner * esz,
                    axis,
                }
            }
            B::QUANTIZE => {
                let (xi, x) = self.need(ins, 0)?;
                let (_, y) = self.need_i8(outs, 0)?;
                if x.shape.num_elements() != y.shape.num_elements() {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                match x.dtype {
                    DType::Float32 => Kernel::QuantizeF32 {
                        scale: y.quant.scale,
                        zero_point: y.quant.zero_point,
                    },
                    DType::Int8 => Kernel::Requantize(quantize::prepare_requantize(
                        x.quant.scale,
                        x.quant.zero_point,
                        y.quant.scale,
                        y.quant.zero_point,
                    )),
                    other => {
                        return Err(err(ErrorKind::UnsupportedType(other.code())).at_tensor(xi))
                    }
                }
            }
            B::DEQUANTIZE => {
                let (_, x) = self.need_i8(ins, 0)?;
                let (yi, y) = self.need(outs, 0)?;
                if y.dtype != DType::Float32 {
                    return Err(err(ErrorKind::UnsupportedType(y.dtype.code())).at_tensor(yi));
                }
                if x.shape.num_elements() != y.shape.num_elements() {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                Kernel::Dequantize {
                    scale: x.quant.scale,
                    zero_point: x.quant.zero_point,
                }
            }
            B::RELU | B::RELU6 | B::LOGISTIC => {
                let (_, x) = self.need_i8(ins, 0)?;
                let (yi, y) = self.need_i8(outs, 0)?;
                if x.shape.num_elements() != y.shape.num_elements() {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
                match bop {
                    B::RELU => Kernel::Relu(crate::kernels::activations::prepare_relu(
                        x.quant.scale,
                        x.quant.zero_point,
                        y.quant.scale,
                        y.quant.zero_point,
                    )),
                    B::RELU6 => {
                        let (lower, upper) = crate::kernels::activations::prepare_relu6(
                            x.quant.scale,
                            x.quant.zero_point,
                        );
                        Kernel::Relu6 { lower, upper }
                    }
                    _ => {
                        if y.quant.zero_point != -128 {
                            return Err(err(ErrorKind::BadQuantization).at_tensor(yi));
                        }
                        Kernel::Logistic(crate::kernels::logistic::prepare(
                            x.quant.scale,
                            x.quant.zero_point,
                        ))
                    }
                }
            }
            B::CUSTOM => {
                let name = code.custom_code().unwrap_or("");
                let slot = self
                    .resolver
                    .find(name)
                    .ok_or(err(ErrorKind::UnknownCustomOp(Name::new(name))))?;
                let kernel = self
                    .resolver
                    .kernel(slot)
                    .ok_or(err(ErrorKind::UnknownCustomOp(Name::new(name))))?;
                let bytes = self.with_prepare_context(k, op, |ctx| kernel.prepare(ctx))??;
                return Ok((
                    Kernel::Custom {
                        slot,
                        persistent_bytes: bytes,
                    },
                    bytes.div_ceil(4),
                ));
            }
            _ => return Err(err(ErrorKind::UnsupportedOp(builtin))),
        };
        Ok((kernel, 0))
    }

    /// Whether input 2 (the bias) can be read in place: a constant int32 tensor whose bytes
    /// are 4-byte aligned in memory (flatbuffer buffers are 16-aligned in an aligned model).
    fn bias_in_model(&self, ins: Option<flatbuffers::Vector<'m, i32>>) -> Result<bool, ExecError> {
        Ok(match self.op_tensor(ins, 2)? {
            Some(bi) => {
                let b = self.tensors[bi];
                b.dtype == DType::Int32
                    && const_slice(self.bytes(), b.location)
                        .is_some_and(|d| d.len() >= b.bytes && d.as_ptr().align_offset(4) == 0)
            }
            None => false,
        })
    }

    fn check_bias(
        &self,
        ins: Option<flatbuffers::Vector<'m, i32>>,
        k: usize,
        channels: usize,
    ) -> Result<(), ExecError> {
        if let Some(bi) = self.op_tensor(ins, k)? {
            let b = self.tensors[bi];
            if b.dtype != DType::Int32 {
                return Err(err(ErrorKind::UnsupportedType(b.dtype.code())).at_tensor(bi));
            }
            if b.shape.num_elements() != channels {
                return Err(err(ErrorKind::ShapeMismatch).at_tensor(bi));
            }
            if const_slice(self.bytes(), b.location).is_none() {
                return Err(err(ErrorKind::NotConstant).at_tensor(bi));
            }
        }
        Ok(())
    }

    fn check_channel_scales(
        &self,
        fi: usize,
        f: &TensorInfo,
        channels: usize,
    ) -> Result<(), ExecError> {
        let n = f.quant.num_scales;
        if n != 1 && n != channels {
            return Err(err(ErrorKind::UnsupportedQuantization).at_tensor(fi));
        }
        if n == 0 || f.quant.scale.is_nan() || f.quant.scale <= 0.0 {
            return Err(err(ErrorKind::BadQuantization).at_tensor(fi));
        }
        Ok(())
    }

    /// Checks the output spatial size against TFLM's formula and returns the padding.
    #[allow(clippy::too_many_arguments)]
    fn window(
        &self,
        xs: &Shape,
        ys: &Shape,
        kh: usize,
        kw: usize,
        sh: usize,
        sw: usize,
        dh: usize,
        dw: usize,
        same: bool,
    ) -> Result<(usize, usize), ExecError> {
        let (ih, iw) = (xs.dim(1) as i32, xs.dim(2) as i32);
        let oh = compute_out_size(same, ih, kh as i32, sh as i32, dh as i32);
        let ow = compute_out_size(same, iw, kw as i32, sw as i32, dw as i32);
        if oh != ys.dim(1) as i32 || ow != ys.dim(2) as i32 || oh <= 0 || ow <= 0 {
            return Err(err(ErrorKind::ShapeMismatch));
        }
        Ok((
            compute_padding(sh as i32, dh as i32, ih, kh as i32, oh) as usize,
            compute_padding(sw as i32, dw as i32, iw, kw as i32, ow) as usize,
        ))
    }

    fn view(&self, i: usize, data: &'m [u8]) -> TensorView<'m> {
        let t = &self.tensors[i];
        TensorView {
            index: i,
            shape: t.shape,
            dtype: t.dtype,
            quant: t.quant,
            data,
        }
    }

    // Never inlined: its two view arrays must not stay in the frame of whoever loads.
    #[inline(never)]
    fn with_prepare_context<R>(
        &self,
        k: usize,
        op: tflite::Operator<'m>,
        f: impl FnOnce(&PrepareContext<'_>) -> R,
    ) -> Result<R, ExecError> {
        let mut ins: [Option<TensorView<'m>>; MAX_NODE_IO] = [None; MAX_NODE_IO];
        let mut outs: [TensorView<'m>; MAX_NODE_IO] = [TensorView::default(); MAX_NODE_IO];
        let n_in = op.inputs().map(|v| v.len()).unwrap_or(0);
        let n_out = op.outputs().map(|v| v.len()).unwrap_or(0);
        if n_in > MAX_NODE_IO || n_out > MAX_NODE_IO {
            return Err(err(ErrorKind::Capacity(
                "custom op inputs/outputs (MAX_NODE_IO)",
            )));
        }
        for (j, slot) in ins.iter_mut().enumerate().take(n_in) {
            if let Some(i) = self.op_tensor(op.inputs(), j)? {
                *slot = Some(self.view(
                    i,
                    const_slice(self.bytes(), self.tensors[i].location).unwrap_or(&[]),
                ));
            }
        }
        for (j, slot) in outs.iter_mut().enumerate().take(n_out) {
            let (i, _) = self.need(op.outputs(), j)?;
            *slot = self.view(i, &[]);
        }
        let options = op.custom_options().map(|o| o.bytes()).unwrap_or(&[]);
        let ctx = PrepareContext {
            op_index: k,
            options,
            inputs: &ins[..n_in],
            outputs: &outs[..n_out],
        };
        Ok(f(&ctx))
    }

    // Never inlined: its four T-long arrays stay out of the frame that prepares the ops.
    #[inline(never)]
    fn plan(&mut self, options: Options) -> Result<(), ExecError> {
        let n_ops = self.num_nodes;
        let mut reqs = [Request::default(); T];
        let mut used = [false; T];
        let end = n_ops.saturating_sub(1);
        let touch =
            |reqs: &mut [Request; T], used: &mut [bool; T], i: usize, at: usize, t: &TensorInfo| {
                if !matches!(t.location, Location::Const { .. }) {
                    if !used[i] {
                        used[i] = true;
                        reqs[i] = Request {
                            size: t.bytes,
                            first: at,
                            last: at,
                        };
                    } else {
                        reqs[i].first = reqs[i].first.min(at);
                        reqs[i].last = reqs[i].last.max(at);
                    }
                }
            };
        for &i in &self.inputs[..self.num_inputs] {
            let t = self.tensors[i];
            touch(&mut reqs, &mut used, i, 0, &t);
        }
        for k in 0..n_ops {
            let op = self.operator(k)?;
            for list in [op.inputs(), op.outputs()] {
                for i in list.iter().flat_map(|l| l.iter()) {
                    if i >= 0 {
                        let i = i as usize;
                        let t = self.tensors[i];
                        touch(&mut reqs, &mut used, i, k, &t);
                    }
                }
            }
        }
        for &i in &self.outputs[..self.num_outputs] {
            let t = self.tensors[i];
            touch(&mut reqs, &mut used, i, end, &t);
        }
        for i in 0..self.num_tensors {
            if !used[i] {
                reqs[i].size = 0;
            } else if options.preserve_all {
                reqs[i].last = end;
            }
        }
        let mut order = [0u16; T];
        let mut offsets = [0usize; T];
        self.activation_bytes = plan::plan(
            &reqs[..self.num_tensors],
            &mut order[..self.num_tensors],
            &mut offsets[..self.num_tensors],
        );
        for i in 0..self.num_tensors {
            if used[i] {
                self.tensors[i].location = Location::Arena { offset: offsets[i] };
            }
        }
        // Each patch-path CONV_2D gathers its patch into the lowest hole of the plan that no
        // tensor live at that node occupies (TFLM's per-op scratch buffers): the 3x3x64 patch of
        // a late ResNet-8 layer lands where the big early activations were, instead of growing
        // the arena or the stack.
        let reqs = &reqs[..self.num_tensors];
        let offsets = &offsets[..self.num_tensors];
        for k in 0..n_ops {
            let Kernel::Conv(cp, false) = self.nodes[k].kernel else {
                continue;
            };
            let size = plan::align_up(2 * conv::patch_len(&cp));
            if size == 0 {
                continue;
            }
            let live = |i: usize| reqs[i].size > 0 && reqs[i].first <= k && k <= reqs[i].last;
            let end_of = |i: usize| offsets[i] + plan::align_up(reqs[i].size);
            let free = |off: usize| {
                !(0..reqs.len()).any(|i| live(i) && off < end_of(i) && offsets[i] < off + size)
            };
            let mut best = if free(0) { 0 } else { usize::MAX };
            for i in (0..reqs.len()).filter(|&i| live(i)) {
                let off = end_of(i);
                if off < best && free(off) {
                    best = off;
                }
            }
            self.nodes[k].scratch = best;
            self.activation_bytes = self.activation_bytes.max(best + size);
        }
        Ok(())
    }

    fn arena_bytes(&self) -> usize {
        // Worst-case alignment padding + activations + persistent words.
        (ALIGN - 1) + self.used_bytes()
    }

    /// Activations (with the CONV_2D patch scratch) + persistent words: the arena bytes after
    /// alignment.
    fn used_bytes(&self) -> usize {
        self.activation_bytes + 4 * self.persistent_words
    }
}

/// Collects shape dims without allocation (at most [`MAX_DIMS`]; more makes `Shape` reject it).
#[derive(Default)]
struct ShapeIter {
    dims: [i32; MAX_DIMS + 1],
    len: usize,
}

impl FromIterator<i32> for ShapeIter {
    fn from_iter<I: IntoIterator<Item = i32>>(iter: I) -> Self {
        let mut s = ShapeIter::default();
        for d in iter {
            if s.len == s.dims.len() {
                break;
            }
            s.dims[s.len] = d;
            s.len += 1;
        }
        s
    }
}

impl ShapeIter {
    fn iter(&self) -> impl Iterator<Item = i32> + '_ {
        self.dims[..self.len].iter().copied()
    }
}

/// The arena split around one node's outputs: mutable output slices plus read-only gaps.
struct Carved<'x> {
    outs: [&'x mut [u8]; MAX_NODE_IO],
    gaps: [(usize, &'x [u8]); MAX_NODE_IO + 1],
    n_gaps: usize,
}

impl<'x> Carved<'x> {
    fn new(act: &'x mut [u8], ranges: &[(usize, usize)]) -> Result<Self, ExecError> {
        let mut order = [0usize; MAX_NODE_IO];
        let n = ranges.len().min(MAX_NODE_IO);
        for (j, o) in order.iter_mut().enumerate().take(n) {
            *o = j;
        }
        // Insertion sort by offset (n ≤ MAX_NODE_IO; no sort routine in firmware images).
        for i in 1..n {
            let mut j = i;
            while j > 0 && ranges[order[j]].0 < ranges[order[j - 1]].0 {
                order.swap(j, j - 1);
                j -= 1;
            }
        }
        let mut c = Carved {
            outs: core::array::from_fn(|_| <&mut [u8]>::default()),
            gaps: [(0, &[][..]); MAX_NODE_IO + 1],
            n_gaps: 0,
        };
        let mut rest: &'x mut [u8] = act;
        let mut base = 0usize;
        for &j in &order[..n] {
            let (off, len) = ranges[j];
            if off < base || off.checked_add(len).is_none_or(|e| e - base > rest.len()) {
                return Err(err(ErrorKind::BadOption(
                    "op outputs overlap each other or the arena",
                )));
            }
            let (gap, r) = core::mem::take(&mut rest).split_at_mut(off - base);
            c.gaps[c.n_gaps] = (base, gap);
            c.n_gaps += 1;
            let (o, r2) = r.split_at_mut(len);
            c.outs[j] = o;
            rest = r2;
            base = off + len;
        }
        c.gaps[c.n_gaps] = (base, rest);
        c.n_gaps += 1;
        Ok(c)
    }
}

fn as_i8(b: &[u8]) -> &[i8] {
    bytemuck::cast_slice(b)
}

fn as_i8_mut(b: &mut [u8]) -> &mut [i8] {
    bytemuck::cast_slice_mut(b)
}

impl<'m, 'a, 'r, const T: usize, const N: usize> Default for Interpreter<'m, 'a, 'r, T, N> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<'m, 'a, 'r, const T: usize, const N: usize> Interpreter<'m, 'a, 'r, T, N> {
    /// An interpreter with no model: every byte zero, so a `static` one costs .bss only. Fill it
    /// with [`Interpreter::load`]. This is how firmware avoids holding the tables on the stack.
    pub const fn empty() -> Self {
        Interpreter {
            p: Prepared::EMPTY,
            act: None,
            persistent: None,
        }
    }

    /// Arena bytes [`Interpreter::new`] needs for this model (includes alignment slack).
    pub fn arena_bytes_needed(
        model: &'m [u8],
        resolver: &OpResolver<'r>,
        options: Options,
    ) -> Result<usize, ExecError> {
        let mut p = Prepared::<T, N>::EMPTY;
        p.load(model, resolver, options)?;
        Ok(p.arena_bytes())
    }

    /// Parses, prepares and plans `model` into `arena` (a host convenience: the tables travel
    /// by value; firmware uses [`Interpreter::empty`] + [`Interpreter::load`] instead).
    pub fn new(
        model: &'m [u8],
        arena: &'a mut [u8],
        resolver: &OpResolver<'r>,
        options: Options,
    ) -> Result<Self, ExecError> {
        let mut it = Self::empty();
        it.load(model, arena, resolver, options)?;
        Ok(it)
    }

    /// Parses, prepares and plans `model` into `arena`, in place: the tables are written
    /// through `&mut self`, never copied. Replaces any model loaded before; on error the
    /// interpreter is left empty. The arena must hold the plan after aligning its start to
    /// 16 bytes: [`Interpreter::arena_used`] bytes when it already is aligned.
    #[inline(never)]
    pub fn load(
        &mut self,
        model: &'m [u8],
        arena: &'a mut [u8],
        resolver: &OpResolver<'r>,
        options: Options,
    ) -> Result<(), ExecError> {
        self.act = None;
        self.persistent = None;
        self.p.load(model, resolver, options)?;
        let res = self.attach(arena);
        if res.is_err() {
            self.p.clear();
            self.act = None;
            self.persistent = None;
        }
        res
    }

    fn attach(&mut self, arena: &'a mut [u8]) -> Result<(), ExecError> {
        let pad = arena.as_ptr().align_offset(ALIGN);
        if pad >= ALIGN {
            return Err(err(ErrorKind::Misaligned));
        }
        let used = self.p.used_bytes();
        if arena.len() < pad + used {
            // Report what any arena needs (worst-case alignment), as `arena_bytes_needed` does.
            return Err(err(ErrorKind::ArenaTooSmall(self.p.arena_bytes())));
        }
        let (_, rest) = arena.split_at_mut(pad);
        let (act, rest) = rest.split_at_mut(self.p.activation_bytes);
        let pw = self.p.persistent_words;
        let persistent: &'a mut [i32] = bytemuck::try_cast_slice_mut(&mut rest[..4 * pw])
            .map_err(|_| err(ErrorKind::Misaligned))?;
        self.act = Some(act);
        self.persistent = Some(persistent);
        self.fill_persistent()
    }

    /// Custom code of operator `k` when it is a custom op (e.g. `SNAP_PROJECT`), else `None`.
    pub fn op_custom_code(&self, k: usize) -> Option<&'r str> {
        match self.p.nodes[..self.p.num_nodes].get(k)?.kernel {
            Kernel::Custom { slot, .. } => self.p.resolver.name(slot),
            _ => None,
        }
    }

    fn fill_persistent(&mut self) -> Result<(), ExecError> {
        let p = &self.p;
        let tensors = p.subgraph()?.tensors();
        let persistent = self.persistent.as_deref_mut().unwrap_or_default();
        for k in 0..p.num_nodes {
            let node = p.nodes[k];
            let op = p.operator(k)?;
            let words = &mut persistent[node.words.0..node.words.0 + node.words.1];
            let (channels, interleaved) = match node.kernel {
                Kernel::Conv(c, _) => (c.out_c, false),
                Kernel::Depthwise(d) => (d.out_c(), true),
                Kernel::FullyConnected(f) => (f.units, false),
                Kernel::Custom {
                    slot,
                    persistent_bytes,
                } => {
                    let kernel = p
                        .resolver
                        .kernel(slot)
                        .ok_or(err(ErrorKind::Custom("kernel vanished")).at_op(k))?;
                    let bytes: &mut [u8] = bytemuck::cast_slice_mut(words);
                    let bytes = &mut bytes[..persistent_bytes];
                    p.with_prepare_context(k, op, |ctx| kernel.init(ctx, bytes))?
                        .map_err(|e| e.at_op(k))?;
                    continue;
                }
                _ => continue,
            };
            let (xi, _) = p.need(op.inputs(), 0).map_err(|e| e.at_op(k))?;
            let (fi, f, fdata) = p.need_const(op.inputs(), 1).map_err(|e| e.at_op(k))?;
            let bias = match p.op_tensor(op.inputs(), 2).map_err(|e| e.at_op(k))? {
                Some(bi) => const_slice(p.bytes(), p.tensors[bi].location),
                None => None,
            };
            let (yi, _) = p.need(op.outputs(), 0).map_err(|e| e.at_op(k))?;
            let scales = tensors
                .and_then(|t| t.get(fi).quantization())
                .and_then(|q| q.scale());
            let per_channel = f.quant.num_scales > 1;
            let scale_of = |c: usize| -> f32 {
                match scales {
                    Some(s) if per_channel && c < s.len() => s.get(c),
                    _ => f.quant.scale,
                }
            };
            let pc_words = kernels::per_channel_words(channels, node.bias_in_model);
            let filled = kernels::fill_per_channel(
                &mut words[..pc_words],
                channels,
                p.tensors[xi].quant.scale,
                &scale_of,
                p.tensors[yi].quant.scale,
                bias,
                as_i8(&fdata[..f.bytes]),
                interleaved,
            );
            if !filled {
                return Err(err(ErrorKind::BadQuantization).at_op(k));
            }
            if let Kernel::Conv(cp, true) = node.kernel {
                let wide: &mut [i16] = bytemuck::cast_slice_mut(&mut words[pc_words..]);
                conv::widen_filter(&cp, as_i8(&fdata[..f.bytes]), wide);
            }
        }
        Ok(())
    }

    /// Arena bytes actually used by the plan (activations + persistent), without slack.
    pub fn arena_used(&self) -> usize {
        self.p.used_bytes()
    }

    /// Number of tensors in subgraph 0.
    pub fn tensor_count(&self) -> usize {
        self.p.num_tensors
    }

    /// Number of operators in subgraph 0.
    pub fn op_count(&self) -> usize {
        self.p.num_nodes
    }

    /// Number of model inputs.
    pub fn input_count(&self) -> usize {
        self.p.num_inputs
    }

    /// Number of model outputs.
    pub fn output_count(&self) -> usize {
        self.p.num_outputs
    }

    /// Metadata of tensor `i`.
    pub fn tensor_info(&self, i: usize) -> Option<&TensorInfo> {
        self.p.tensors[..self.p.num_tensors].get(i)
    }

    /// Tensor index of model input `k`.
    pub fn input_index(&self, k: usize) -> Result<usize, ExecError> {
        self.p.inputs[..self.p.num_inputs]
            .get(k)
            .copied()
            .ok_or(err(ErrorKind::NoSuchIO(k)))
    }

    /// Tensor index of model output `k`.
    pub fn output_index(&self, k: usize) -> Result<usize, ExecError> {
        self.p.outputs[..self.p.num_outputs]
            .get(k)
            .copied()
            .ok_or(err(ErrorKind::NoSuchIO(k)))
    }

    fn arena_range(&self, i: usize) -> Option<(usize, usize)> {
        match self.p.tensors[..self.p.num_tensors].get(i)?.location {
            Location::Arena { offset } => Some((offset, self.p.tensors[i].bytes)),
            _ => None,
        }
    }

    /// Raw bytes of model input `k`, to fill before [`Interpreter::invoke`].
    pub fn input_bytes_mut(&mut self, k: usize) -> Result<&mut [u8], ExecError> {
        let i = self.input_index(k)?;
        let (off, len) = self
            .arena_range(i)
            .ok_or(err(ErrorKind::NotConstant).at_tensor(i))?;
        self.act
            .as_deref_mut()
            .and_then(|a| a.get_mut(off..off + len))
            .ok_or(err(ErrorKind::NoSuchIO(k)))
    }

    /// Model input `k` as int8 (error if it is another type).
    pub fn input_mut(&mut self, k: usize) -> Result<&mut [i8], ExecError> {
        let i = self.input_index(k)?;
        let dt = self.p.tensors[i].dtype;
        if dt != DType::Int8 {
            return Err(err(ErrorKind::UnsupportedType(dt.code())).at_tensor(i));
        }
        Ok(as_i8_mut(self.input_bytes_mut(k)?))
    }

    /// View of any tensor: constants always; activations hold the value of their last write
    /// while live (every tensor after `invoke` in `preserve_all` mode; outputs always).
    pub fn tensor(&self, i: usize) -> Option<TensorView<'_>> {
        let t = self.p.tensors[..self.p.num_tensors].get(i)?;
        let data: &[u8] = match t.location {
            Location::Const { .. } => const_slice(self.p.bytes(), t.location)?,
            Location::Arena { offset } => self.act.as_deref()?.get(offset..offset + t.bytes)?,
            Location::None => return None,
        };
        Some(TensorView {
            index: i,
            shape: t.shape,
            dtype: t.dtype,
            quant: t.quant,
            data,
        })
    }

    /// Model output `k` after [`Interpreter::invoke`].
    pub fn output(&self, k: usize) -> Result<TensorView<'_>, ExecError> {
        let i = self.output_index(k)?;
        self.tensor(i).ok_or(err(ErrorKind::NoSuchIO(k)))
    }

    /// Resets custom ops' persistent state (TFLM `Reset`).
    pub fn reset(&mut self) {
        let persistent = self.persistent.as_deref_mut().unwrap_or_default();
        for k in 0..self.p.num_nodes {
            if let Node {
                kernel:
                    Kernel::Custom {
                        slot,
                        persistent_bytes,
                    },
                words,
                ..
            } = self.p.nodes[k]
            {
                if let Some(kernel) = self.p.resolver.kernel(slot) {
                    let bytes: &mut [u8] =
                        bytemuck::cast_slice_mut(&mut persistent[words.0..words.0 + words.1]);
                    kernel.reset(&mut bytes[..persistent_bytes]);
                }
            }
        }
    }

    /// Runs every op in order.
    pub fn invoke(&mut self) -> Result<(), ExecError> {
        self.invoke_with(|_, _| {})
    }

    /// Runs every op in order and, after each, calls `observer(op_index, outputs)` with views of
    /// the op's freshly written outputs (taps: every intermediate tensor passes through here).
    pub fn invoke_with(
        &mut self,
        mut observer: impl FnMut(usize, &[TensorView<'_>]),
    ) -> Result<(), ExecError> {
        for k in 0..self.p.num_nodes {
            let node = self.p.nodes[k];
            let op = self.p.operator(k).map_err(|e| e.at_op(k))?;
            if matches!(node.kernel, Kernel::Custom { .. }) {
                self.eval_node::<true>(k, op, &node)
            } else {
                self.eval_node::<false>(k, op, &node)
            }
            .map_err(|e| e.at_op(k))?;
            self.notify(k, op, &mut observer);
        }
        Ok(())
    }

    /// Calls the observer with views of node `k`'s outputs. Never inlined: the views array
    /// ([`MAX_NODE_IO`] views) is then on the stack only here, not under every kernel.
    #[inline(never)]
    fn notify(
        &self,
        k: usize,
        op: tflite::Operator<'m>,
        observer: &mut dyn FnMut(usize, &[TensorView<'_>]),
    ) {
        let outs = op.outputs();
        let n = outs.map(|o| o.len()).unwrap_or(0).min(MAX_NODE_IO);
        let mut views: [TensorView<'_>; MAX_NODE_IO] = [TensorView::default(); MAX_NODE_IO];
        for (j, v) in views.iter_mut().enumerate().take(n) {
            let i = outs.map(|o| o.get(j)).unwrap_or(-1);
            if let Some(t) = usize::try_from(i).ok().and_then(|i| self.tensor(i)) {
                *v = t;
            }
        }
        observer(k, &views[..n]);
    }

    /// Runs one node. Two copies (`CUSTOM` = the node is a custom op, or not), so a custom
    /// op's views and a builtin kernel's locals are never stacked in the same frame: on the
    /// Small-MCU tier that depth is what the stack reserve must cover.
    #[inline(never)]
    fn eval_node<const CUSTOM: bool>(
        &mut self,
        k: usize,
        op: tflite::Operator<'m>,
        node: &Node,
    ) -> Result<(), ExecError> {
        let p = &self.p;
        let outs_list = op.outputs();
        let ins_list = op.inputs();
        let n_out = outs_list.map(|o| o.len()).unwrap_or(0).min(MAX_NODE_IO);
        let n_in = ins_list.map(|o| o.len()).unwrap_or(0).min(MAX_NODE_IO);
        let mut ranges = [(0usize, 0usize); MAX_NODE_IO];
        for (j, r) in ranges.iter_mut().enumerate().take(n_out) {
            let (i, _) = p.need(outs_list, j)?;
            *r = match p.tensors[i].location {
                Location::Arena { offset } => (offset, p.tensors[i].bytes),
                _ => return Err(err(ErrorKind::NotConstant).at_tensor(i)),
            };
        }
        // A patch-path CONV_2D's scratch is carved out like one more output.
        let n_carved = match node.kernel {
            Kernel::Conv(cp, false) if !CUSTOM && n_out < MAX_NODE_IO => {
                ranges[n_out] = (node.scratch, 2 * conv::patch_len(&cp));
                n_out + 1
            }
            _ => n_out,
        };
        let bytes = p.bytes();
        let persistent = self.persistent.as_deref_mut().unwrap_or_default();
        let Carved {
            mut outs,
            gaps,
            n_gaps,
        } = Carved::new(
            self.act.as_deref_mut().unwrap_or_default(),
            &ranges[..n_carved],
        )?;
        let gaps = &gaps[..n_gaps];
        // Input `j` (None for an absent optional input).
        let opt_input = |j: usize| -> Result<Option<&[u8]>, ExecError> {
            let Some(i) = p.op_tensor(ins_list, j)? else {
                return Ok(None);
            };
            let t = p.tensors[i];
            match t.location {
                Location::Const { .. } => {
                    const_slice(bytes, t.location).map(|d| &d[..t.bytes.min(d.len())])
                }
                Location::Arena { offset } => find_gap(gaps, offset, t.bytes),
                Location::None => None,
            }
            .ok_or(
                err(ErrorKind::BadOption(
                    "an input shares memory with an output",
                ))
                .at_tensor(i),
            )
            .map(Some)
        };
        let input = |j: usize| -> Result<&[u8], ExecError> {
            opt_input(j)?.ok_or(err(ErrorKind::WrongArity))
        };
        let (w0, wl) = node.words;
        // The bias read in place (input 2), when prepare found it aligned.
        let model_bias = || -> Result<Option<&[i32]>, ExecError> {
            if !node.bias_in_model {
                return Ok(None);
            }
            bytemuck::try_cast_slice(input(2)?)
                .map(Some)
                .map_err(|_| err(ErrorKind::Misaligned))
        };
        let out0: &mut [u8] = core::mem::take(&mut outs[0]);
        match node.kernel {
            Kernel::Custom {
                slot,
                persistent_bytes,
            } if CUSTOM => {
                let kernel = p
                    .resolver
                    .kernel(slot)
                    .ok_or(err(ErrorKind::Custom("kernel vanished")))?;
                outs[0] = out0;
                let pbytes: &mut [u8] = bytemuck::cast_slice_mut(&mut persistent[w0..w0 + wl]);
                eval_custom(
                    p,
                    k,
                    op,
                    kernel,
                    &opt_input,
                    &mut outs[..n_out],
                    &mut pbytes[..persistent_bytes],
                )?;
            }
            _ if CUSTOM => {
                return Err(err(ErrorKind::Custom(
                    "a builtin node reached the custom dispatch",
                )))
            }
            Kernel::Conv(cp, widened) => {
                let words = &persistent[w0..w0 + wl];
                let pc = per_channel(words, cp.out_c, model_bias()?)?;
                let f16: Option<&[i16]> = widened.then(|| {
                    bytemuck::cast_slice(
                        &words[kernels::per_channel_words(cp.out_c, node.bias_in_model)..],
                    )
                });
                conv::eval(
                    &cp,
                    &pc,
                    as_i8(input(0)?),
                    as_i8(input(1)?),
                    f16,
                    outs.get_mut(n_out)
                        .and_then(|o| bytemuck::try_cast_slice_mut(core::mem::take(o)).ok())
                        .unwrap_or_default(),
                    as_i8_mut(out0),
                );
            }
            Kernel::Depthwise(dp) => {
                let pc = per_channel(&persistent[w0..w0 + wl], dp.out_c(), model_bias()?)?;
                depthwise::eval(
                    &dp,
                    &pc,
                    as_i8(input(0)?),
                    as_i8(input(1)?),
                    as_i8_mut(out0),
                );
            }
            Kernel::FullyConnected(fp) => {
                let pc = per_channel(&persistent[w0..w0 + wl], fp.units, model_bias()?)?;
                fully_connected::eval(
                    &fp,
                    &pc,
                    as_i8(input(0)?),
                    as_i8(input(1)?),
                    as_i8_mut(out0),
                );
            }
            Kernel::AvgPool(pp) => {
                if !pooling::eval_average(&pp, as_i8(input(0)?), as_i8_mut(out0)) {
                    return Err(err(ErrorKind::ShapeMismatch));
                }
            }
            Kernel::MaxPool(pp) => pooling::eval_max(&pp, as_i8(input(0)?), as_i8_mut(out0)),
            Kernel::Add(ap, broadcast) => match broadcast_of(p, ins_list, broadcast)? {
                None => add::eval(&ap, as_i8(input(0)?), as_i8(input(1)?), as_i8_mut(out0)),
                Some(bc) => add::eval_broadcast(
                    &ap,
                    &bc,
                    as_i8(input(0)?),
                    as_i8(input(1)?),
                    as_i8_mut(out0),
                ),
            },
            Kernel::Mul(mp, broadcast) => match broadcast_of(p, ins_list, broadcast)? {
                None => mul::eval(&mp, as_i8(input(0)?), as_i8(input(1)?), as_i8_mut(out0)),
                Some(bc) => mul::eval_broadcast(
                    &mp,
                    &bc,
                    as_i8(input(0)?),
                    as_i8(input(1)?),
                    as_i8_mut(out0),
                ),
            },
            Kernel::Mean(mp) => mean::eval(&mp, as_i8(input(0)?), as_i8_mut(out0)),
            Kernel::Pad(pp) => pad::eval(&pp, as_i8(input(0)?), as_i8_mut(out0)),
            Kernel::Copy => {
                let x = input(0)?;
                let n = x.len().min(out0.len());
                out0[..n].copy_from_slice(&x[..n]);
            }
            Kernel::Softmax(sp) => softmax::eval(&sp, as_i8(input(0)?), as_i8_mut(out0)),
            Kernel::Concat {
                outer,
                inner_bytes,
                axis,
            } => {
                let mut srcs: [&[u8]; MAX_NODE_IO] = [&[]; MAX_NODE_IO];
                let mut axis_bytes = [0usize; MAX_NODE_IO];
                for j in 0..n_in {
                    srcs[j] = input(j)?;
                    axis_bytes[j] = p.need(ins_list, j)?.1.shape.dim(axis) * inner_bytes;
                }
                crate::kernels::concat::eval(outer, &srcs[..n_in], &axis_bytes[..n_in], out0);
            }
            Kernel::QuantizeF32 { scale, zero_point } => {
                let x: &[f32] =
                    bytemuck::try_cast_slice(input(0)?).map_err(|_| err(ErrorKind::Misaligned))?;
                quantize::eval_from_f32(scale, zero_point, x, as_i8_mut(out0));
            }
            Kernel::Requantize(rp) => {
                quantize::eval_requantize(&rp, as_i8(input(0)?), as_i8_mut(out0))
            }
            Kernel::Dequantize { scale, zero_point } => {
                let y: &mut [f32] =
                    bytemuck::try_cast_slice_mut(out0).map_err(|_| err(ErrorKind::Misaligned))?;
                crate::kernels::dequantize::eval(scale, zero_point, as_i8(input(0)?), y);
            }
            Kernel::Relu(rp) => {
                crate::kernels::activations::eval_relu(&rp, as_i8(input(0)?), as_i8_mut(out0))
            }
            Kernel::Relu6 { lower, upper } => crate::kernels::activations::eval_relu6(
                lower,
                upper,
                as_i8(input(0)?),
                as_i8_mut(out0),
            ),
            Kernel::Logistic(lp) => {
                crate::kernels::logistic::eval(&lp, as_i8(input(0)?), as_i8_mut(out0))
            }
            Kernel::Custom { .. } => {
                return Err(err(ErrorKind::Custom(
                    "a custom node reached the builtin dispatch",
                )))
            }
        }
        Ok(())
    }
}

/// Runs one custom node. Kept out of `eval_node` (never inlined) so the views it builds — two
/// arrays of [`MAX_NODE_IO`] tensor views — sit on the stack only while a custom op runs, not
/// under every builtin kernel (CONV_2D's frame is the deepest on an MCU).
#[inline(never)]
fn eval_custom<'m, 'd, const T: usize, const N: usize>(
    p: &Prepared<'m, '_, T, N>,
    k: usize,
    op: tflite::Operator<'m>,
    kernel: &dyn CustomKernel,
    opt_input: &dyn Fn(usize) -> Result<Option<&'d [u8]>, ExecError>,
    outs: &mut [&'d mut [u8]],
    persistent: &mut [u8],
) -> Result<(), ExecError> {
    let ins_list = op.inputs();
    let outs_list = op.outputs();
    let n_in = ins_list.map(|o| o.len()).unwrap_or(0);
    let n_out = outs.len();
    if n_in > MAX_NODE_IO || n_out > MAX_NODE_IO {
        return Err(err(ErrorKind::Capacity(
            "custom op inputs/outputs (MAX_NODE_IO)",
        )));
    }
    let mut in_views: [Option<TensorView<'_>>; MAX_NODE_IO] = [None; MAX_NODE_IO];
    for (j, v) in in_views.iter_mut().enumerate().take(n_in) {
        if let (Some(i), Some(data)) = (p.op_tensor(ins_list, j)?, opt_input(j)?) {
            let t = &p.tensors[i];
            *v = Some(TensorView {
                index: i,
                shape: t.shape,
                dtype: t.dtype,
                quant: t.quant,
                data,
            });
        }
    }
    let mut out_views: [TensorMut<'_>; MAX_NODE_IO] =
        core::array::from_fn(|_| TensorMut::default());
    for (j, (v, o)) in out_views
        .iter_mut()
        .zip(outs.iter_mut())
        .enumerate()
        .take(n_out)
    {
        let (i, t) = p.need(outs_list, j)?;
        *v = TensorMut {
            index: i,
            shape: t.shape,
            dtype: t.dtype,
            quant: t.quant,
            data: core::mem::take(o),
        };
    }
    let options = op.custom_options().map(|o| o.bytes()).unwrap_or(&[]);
    let mut ctx = EvalContext {
        op_index: k,
        options,
        inputs: &in_views[..n_in],
        outputs: &mut out_views[..n_out],
        persistent,
    };
    kernel.eval(&mut ctx)
}

/// Runs the flatbuffer verifier. Never inlined: its frame (~1 KB on Cortex-M) is gone before
/// the ops are prepared, instead of sitting under every custom op's prepare.
#[inline(never)]
fn verify_model(bytes: &[u8]) -> Result<tflite::Model<'_>, ExecError> {
    tflite::root_as_model(bytes).map_err(|_| err(ErrorKind::InvalidFlatbuffer))
}

/// The broadcast strides of a two-input elementwise node (`None` when the shapes are equal).
fn broadcast_of<'m, const T: usize, const N: usize>(
    p: &Prepared<'m, '_, T, N>,
    ins: Option<flatbuffers::Vector<'m, i32>>,
    broadcast: bool,
) -> Result<Option<Broadcast>, ExecError> {
    if !broadcast {
        return Ok(None);
    }
    let (_, a) = p.need(ins, 0)?;
    let (_, b) = p.need(ins, 1)?;
    Broadcast::new(&a.shape, &b.shape)
        .map(Some)
        .ok_or(err(ErrorKind::ShapeMismatch))
}

fn per_channel<'a>(
    words: &'a [i32],
    c: usize,
    model_bias: Option<&'a [i32]>,
) -> Result<kernels::PerChannel<'a>, ExecError> {
    kernels::split_per_channel(words, c, model_bias)
        .ok_or(err(ErrorKind::Custom("persistent data too short")))
}

/// Arena bytes an interpreter with the default capacities needs for `model`.
pub fn arena_bytes_needed(
    model: &[u8],
    resolver: &OpResolver<'_>,
    options: Options,
) -> Result<usize, ExecError> {
    Interpreter::<'_, '_, '_, DEFAULT_MAX_TENSORS, DEFAULT_MAX_OPS>::arena_bytes_needed(
        model, resolver, options,
    )
}

fn find_gap<'x>(gaps: &[(usize, &'x [u8])], off: usize, len: usize) -> Option<&'x [u8]> {
    gaps.iter().find_map(|&(base, g)| {
        (off >= base && off + len <= base + g.len()).then(|| &g[off - base..off - base + len])
    })
}
