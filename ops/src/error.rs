//! Typed errors of prepare/eval, with messages that name the op, the tensor and the problem
//! (the TFLM glue passes [`OpError::message`] to `ReportError`; no allocation needed).

use crate::flex::FlexError;
use crate::tensor::{DType, Dims};
use core::fmt::{self, Write};

/// The three SNAP ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Project,
    Surprisal,
    Calibrate,
}

impl OpKind {
    /// The custom code the op is registered under (`OperatorCode.custom_code`).
    pub const fn custom_code(self) -> &'static str {
        match self {
            OpKind::Project => "SNAP_PROJECT",
            OpKind::Surprisal => "SNAP_SURPRISAL",
            OpKind::Calibrate => "SNAP_CALIBRATE",
        }
    }

    /// Inverse of [`OpKind::custom_code`].
    pub fn from_custom_code(code: &str) -> Option<OpKind> {
        match code {
            "SNAP_PROJECT" => Some(OpKind::Project),
            "SNAP_SURPRISAL" => Some(OpKind::Surprisal),
            "SNAP_CALIBRATE" => Some(OpKind::Calibrate),
            _ => None,
        }
    }
}

/// An op input or output by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    Input(u8),
    Output(u8),
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Port::Input(i) => write!(f, "input {i}"),
            Port::Output(i) => write!(f, "output {i}"),
        }
    }
}

/// Everything prepare or eval can reject.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OpError {
    /// The custom-options flexbuffer is malformed or a key is missing/mistyped.
    Options { op: OpKind, err: FlexError },
    /// An option parsed but its value is out of range.
    OptionValue {
        op: OpKind,
        key: &'static str,
        problem: &'static str,
    },
    /// Wrong number of inputs or outputs.
    Count {
        op: OpKind,
        outputs: bool,
        got: usize,
        min: usize,
        max: usize,
    },
    /// A tensor has the wrong element type.
    DType {
        op: OpKind,
        port: Port,
        name: &'static str,
        got: DType,
        expected: &'static str,
    },
    /// A tensor has the wrong shape (`expected` uses -1 for "any").
    Shape {
        op: OpKind,
        port: Port,
        name: &'static str,
        got: Dims,
        expected: Dims,
        why: &'static str,
    },
    /// A shape exceeds a documented limit of [`crate::limits`].
    Limit {
        op: OpKind,
        what: &'static str,
        value: usize,
        max: usize,
    },
    /// A buffer handed to eval is shorter than prepare's shapes require.
    Buffer {
        op: OpKind,
        what: &'static str,
        need: usize,
        got: usize,
    },
    /// Constant data (LUT, table) violates its contract.
    Data {
        op: OpKind,
        port: Port,
        name: &'static str,
        problem: &'static str,
    },
    /// The options ask for a variant this build compiled out: cargo feature `feature` of
    /// snapuq-ops (same name in snapuq-tflm, `snap-<feature>` in snapuq-exec).
    Unsupported {
        op: OpKind,
        key: &'static str,
        feature: &'static str,
    },
}

impl OpError {
    pub const fn op(&self) -> OpKind {
        match self {
            OpError::Options { op, .. }
            | OpError::OptionValue { op, .. }
            | OpError::Count { op, .. }
            | OpError::DType { op, .. }
            | OpError::Shape { op, .. }
            | OpError::Limit { op, .. }
            | OpError::Buffer { op, .. }
            | OpError::Data { op, .. }
            | OpError::Unsupported { op, .. } => *op,
        }
    }

    /// The one-line message in a fixed buffer (truncated at [`ErrorMessage::CAPACITY`] bytes,
    /// NUL-terminated for C).
    pub fn message(&self) -> ErrorMessage {
        let mut m = ErrorMessage::new();
        // Writing into ErrorMessage never fails (it truncates), so the result is always Ok.
        let _ = write!(m, "{self}");
        m
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.op().custom_code())?;
        match self {
            OpError::Options { err, .. } => write!(f, "custom options: {err}"),
            OpError::OptionValue { key, problem, .. } => {
                write!(f, "custom option \"{key}\" {problem}")
            }
            OpError::Count {
                outputs,
                got,
                min,
                max,
                ..
            } => {
                let what = if *outputs { "outputs" } else { "inputs" };
                if min == max {
                    write!(f, "has {got} {what} but needs {min}")
                } else {
                    write!(f, "has {got} {what} but needs {min} to {max}")
                }
            }
            OpError::DType {
                port,
                name,
                got,
                expected,
                ..
            } => write!(f, "{port} ({name}) is {got} but must be {expected}"),
            OpError::Shape {
                port,
                name,
                got,
                expected,
                why,
                ..
            } => write!(
                f,
                "{port} ({name}) has shape {got} but expected {expected} ({why})"
            ),
            OpError::Limit {
                what, value, max, ..
            } => write!(f, "{what} = {value} exceeds the supported maximum {max}"),
            OpError::Buffer {
                what, need, got, ..
            } => write!(f, "{what} holds {got} elements but {need} are needed"),
            OpError::Data {
                port,
                name,
                problem,
                ..
            } => write!(f, "{port} ({name}) {problem}"),
            OpError::Unsupported { key, feature, .. } => write!(
                f,
                "custom option \"{key}\" needs code compiled out of this build: enable cargo \
                 feature \"{feature}\" of snapuq-ops (snapuq-tflm: \"{feature}\", snapuq-exec: \
                 \"snap-{feature}\")"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for OpError {}

/// A fixed-capacity UTF-8 message (no heap), NUL-terminated for C's `ReportError("%s", …)`.
#[derive(Clone, Copy)]
pub struct ErrorMessage {
    buf: [u8; ErrorMessage::CAPACITY + 1],
    len: usize,
}

impl ErrorMessage {
    pub const CAPACITY: usize = 255;

    pub const fn new() -> Self {
        ErrorMessage {
            buf: [0; ErrorMessage::CAPACITY + 1],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 characters are ever appended (see write_str).
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// The message followed by a NUL byte.
    pub fn as_bytes_with_nul(&self) -> &[u8] {
        &self.buf[..self.len + 1]
    }
}

impl Default for ErrorMessage {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for ErrorMessage {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for ch in s.chars() {
            let mut tmp = [0u8; 4];
            let bytes = ch.encode_utf8(&mut tmp).as_bytes();
            if self.len + bytes.len() > ErrorMessage::CAPACITY {
                return Ok(());
            }
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        }
        self.buf[self.len] = 0;
        Ok(())
    }
}

impl fmt::Display for ErrorMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ErrorMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// `Err(OpError::Buffer)` unless a slice handed to `op`'s eval is at least `need` long. Shared by
/// the three ops so every short-buffer error reads the same.
pub(crate) fn check_len(
    op: OpKind,
    what: &'static str,
    got: usize,
    need: usize,
) -> Result<(), OpError> {
    if got < need {
        Err(OpError::Buffer {
            op,
            what,
            need,
            got,
        })
    } else {
        Ok(())
    }
}

/// `Err(OpError::Shape)` unless a tensor's dims are exactly the ones `op`'s options imply.
pub(crate) fn check_dims(
    op: OpKind,
    port: Port,
    name: &'static str,
    got: &[i32],
    want: &[i32],
    why: &'static str,
) -> Result<(), OpError> {
    if got == want {
        Ok(())
    } else {
        Err(OpError::Shape {
            op,
            port,
            name,
            got: Dims::from_slice(got),
            expected: Dims::from_slice(want),
            why,
        })
    }
}
