//! Operator identities: builtin codes (with the schema's two-field encoding) and custom codes,
//! and the set of operators the snapuq executor runs.
use snapuq_schema::tflite::{BuiltinOperator, OperatorCodeT};
use std::fmt;

/// Custom code of the SNAP projection op (GAP + int8 linear map).
pub const SNAP_PROJECT: &str = "SNAP_PROJECT";
/// Custom code of the SNAP surprisal op (per-tap standardized error).
pub const SNAP_SURPRISAL: &str = "SNAP_SURPRISAL";
/// Custom code of the SNAP calibration op (combines taps into U).
pub const SNAP_CALIBRATE: &str = "SNAP_CALIBRATE";

/// Builtin operators the snapuq executor implements.
pub const SUPPORTED_BUILTINS: [BuiltinOperator; 17] = [
    BuiltinOperator::CONV_2D,
    BuiltinOperator::DEPTHWISE_CONV_2D,
    BuiltinOperator::FULLY_CONNECTED,
    BuiltinOperator::AVERAGE_POOL_2D,
    BuiltinOperator::MAX_POOL_2D,
    BuiltinOperator::ADD,
    BuiltinOperator::MUL,
    BuiltinOperator::MEAN,
    BuiltinOperator::PAD,
    BuiltinOperator::RESHAPE,
    BuiltinOperator::SOFTMAX,
    BuiltinOperator::CONCATENATION,
    BuiltinOperator::QUANTIZE,
    BuiltinOperator::DEQUANTIZE,
    BuiltinOperator::RELU,
    BuiltinOperator::RELU6,
    BuiltinOperator::LOGISTIC,
];

/// Custom operators the snapuq executor implements.
pub const SUPPORTED_CUSTOM: [&str; 3] = [SNAP_PROJECT, SNAP_SURPRISAL, SNAP_CALIBRATE];

/// What an operator is: a builtin code or a custom code string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OpCode {
    Builtin(BuiltinOperator),
    Custom(String),
}

/// Largest code that fits the legacy `deprecated_builtin_code` byte; larger codes store 127
/// (PLACEHOLDER_FOR_GREATER_OP_CODES) there.
const PLACEHOLDER: i32 = BuiltinOperator::PLACEHOLDER_FOR_GREATER_OP_CODES.0;

/// The builtin code an `OperatorCode` table means: old writers only set
/// `deprecated_builtin_code`, new ones set both, so the larger of the two wins (as in TFLite's
/// own `GetBuiltinCode`).
pub fn effective_builtin(c: &OperatorCodeT) -> BuiltinOperator {
    BuiltinOperator(c.builtin_code.0.max(i32::from(c.deprecated_builtin_code)))
}

impl OpCode {
    /// Reads an `OperatorCode` table.
    pub fn from_table(c: &OperatorCodeT) -> Self {
        let b = effective_builtin(c);
        if b == BuiltinOperator::CUSTOM {
            OpCode::Custom(c.custom_code.clone().unwrap_or_default())
        } else {
            OpCode::Builtin(b)
        }
    }

    /// The `OperatorCode` table for this code, with both builtin fields set as the schema
    /// requires for readers old and new.
    pub fn to_table(&self, version: i32) -> OperatorCodeT {
        let (b, custom) = match self {
            OpCode::Builtin(b) => (*b, None),
            OpCode::Custom(s) => (BuiltinOperator::CUSTOM, Some(s.clone())),
        };
        let mut t = OperatorCodeT::default();
        t.builtin_code = b;
        t.deprecated_builtin_code = b.0.clamp(0, PLACEHOLDER) as i8;
        t.custom_code = custom;
        t.version = version;
        t
    }

    /// True when the snapuq executor runs this operator.
    pub fn is_supported(&self) -> bool {
        match self {
            OpCode::Builtin(b) => SUPPORTED_BUILTINS.contains(b),
            OpCode::Custom(s) => SUPPORTED_CUSTOM.contains(&s.as_str()),
        }
    }

    /// The builtin code, or `None` for custom operators.
    pub fn builtin(&self) -> Option<BuiltinOperator> {
        match self {
            OpCode::Builtin(b) => Some(*b),
            OpCode::Custom(_) => None,
        }
    }

    /// True for the custom operator with this code.
    pub fn is_custom(&self, code: &str) -> bool {
        matches!(self, OpCode::Custom(s) if s == code)
    }
}

/// Name of a builtin code as the schema spells it (`CONV_2D`), or `BUILTIN_<n>` for codes
/// newer than our schema.
pub fn builtin_name(b: BuiltinOperator) -> String {
    b.variant_name()
        .map_or_else(|| format!("BUILTIN_{}", b.0), str::to_string)
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpCode::Builtin(b) => f.write_str(&builtin_name(*b)),
            OpCode::Custom(s) => write!(f, "CUSTOM({s})"),
        }
    }
}

/// Human list of what the executor supports, for error messages.
pub fn supported_list() -> String {
    SUPPORTED_BUILTINS
        .iter()
        .map(|b| builtin_name(*b))
        .chain(SUPPORTED_CUSTOM.iter().map(|s| format!("CUSTOM({s})")))
        .collect::<Vec<_>>()
        .join(", ")
}
