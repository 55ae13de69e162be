//! A small, bounds-checked, allocation-free FlexBuffers reader for the ops' custom options.
//!
//! Supports what the options need: a root map with string keys whose values are ints, uints,
//! floats, bools (inline or indirect), strings, and vectors (typed, fixed-size typed or untyped)
//! of numbers. Every offset and length is checked against the buffer, so a truncated or
//! malicious buffer yields a [`FlexError`] naming the key and the problem — never a panic and
//! never an out-of-bounds read.

use core::fmt;

/// What went wrong while reading options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlexProblem {
    /// Fewer than 3 bytes, or an empty options buffer.
    TooShort,
    /// The last byte (root byte width) is not 1, 2, 4 or 8.
    BadRootWidth(u8),
    /// The root value is not a map.
    RootNotMap,
    /// An offset or length points outside the buffer.
    OutOfBounds,
    /// A required key is absent.
    Missing,
    /// The key's value has a type the option cannot take (FlexBuffers type code).
    WrongType(u8),
    /// An integer does not fit the option's range.
    IntRange,
    /// A float is NaN or infinite.
    NotFinite,
    /// A string is not UTF-8 or not NUL-terminated.
    BadString,
    /// A vector has more elements than the option allows.
    TooLong { len: usize, max: usize },
    /// A vector has a different length than required.
    Length { len: usize, expected: usize },
}

/// A reading error: the key being read (or `"<root>"`) and the problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlexError {
    pub key: &'static str,
    pub problem: FlexProblem,
}

impl fmt::Display for FlexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key == ROOT {
            f.write_str("flexbuffer ")?;
        } else {
            write!(f, "key \"{}\": ", self.key)?;
        }
        match self.problem {
            FlexProblem::TooShort => f.write_str("is empty or truncated (re-run snap-convert)"),
            FlexProblem::BadRootWidth(w) => {
                write!(f, "root byte width {w} is not 1/2/4/8 (not a flexbuffer?)")
            }
            FlexProblem::RootNotMap => f.write_str("root is not a map"),
            FlexProblem::OutOfBounds => f.write_str("points outside the buffer (truncated?)"),
            FlexProblem::Missing => f.write_str("is missing (required)"),
            FlexProblem::WrongType(t) => write!(f, "has the wrong type (flexbuffer type {t})"),
            FlexProblem::IntRange => f.write_str("integer out of range"),
            FlexProblem::NotFinite => f.write_str("is NaN or infinite"),
            FlexProblem::BadString => f.write_str("is not a valid string"),
            FlexProblem::TooLong { len, max } => {
                write!(f, "has {len} elements, more than the maximum {max}")
            }
            FlexProblem::Length { len, expected } => {
                write!(f, "has {len} elements but {expected} are required")
            }
        }
    }
}

const ROOT: &str = "<root>";

// FlexBuffers type codes.
const T_NULL: u8 = 0;
const T_INT: u8 = 1;
const T_UINT: u8 = 2;
const T_FLOAT: u8 = 3;
const T_KEY: u8 = 4;
const T_STRING: u8 = 5;
const T_INDIRECT_INT: u8 = 6;
const T_INDIRECT_UINT: u8 = 7;
const T_INDIRECT_FLOAT: u8 = 8;
const T_MAP: u8 = 9;
const T_VECTOR: u8 = 10;
const T_VECTOR_INT: u8 = 11;
const T_VECTOR_UINT: u8 = 12;
const T_VECTOR_FLOAT: u8 = 13;
const T_VECTOR_INT2: u8 = 16;
const T_VECTOR_FLOAT4: u8 = 24;
const T_BOOL: u8 = 26;
const T_VECTOR_BOOL: u8 = 36;

fn err(key: &'static str, problem: FlexProblem) -> FlexError {
    FlexError { key, problem }
}

fn read_uint(buf: &[u8], pos: usize, width: usize) -> Option<u64> {
    let bytes = buf.get(pos..pos.checked_add(width)?)?;
    let mut v: u64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        v |= (b as u64) << (8 * i);
    }
    match width {
        1 | 2 | 4 | 8 => Some(v),
        _ => None,
    }
}

fn read_int(buf: &[u8], pos: usize, width: usize) -> Option<i64> {
    let v = read_uint(buf, pos, width)?;
    Some(match width {
        1 => v as u8 as i8 as i64,
        2 => v as u16 as i16 as i64,
        4 => v as u32 as i32 as i64,
        _ => v as i64,
    })
}

/// A 4- or 8-byte float as f32. 8-byte floats are narrowed by [`f32_from_f64_bits`], so no
/// soft-float f64 code is linked into a firmware (Cortex-M4F/M7 FPUs are single precision).
fn read_float(buf: &[u8], pos: usize, width: usize) -> Option<f32> {
    let v = read_uint(buf, pos, width)?;
    match width {
        4 => Some(f32::from_bits(v as u32)),
        8 => Some(f32_from_f64_bits(v)),
        _ => None,
    }
}

/// `f64::from_bits(bits) as f32` (round to nearest, ties to even; overflow to ±inf, NaN stays
/// NaN) in integer arithmetic.
pub fn f32_from_f64_bits(bits: u64) -> f32 {
    let sign = ((bits >> 32) as u32) & 0x8000_0000;
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let mant = bits & ((1u64 << 52) - 1);
    if exp == 0x7ff {
        let quiet = if mant != 0 { 0x0040_0000 } else { 0 };
        return f32::from_bits(sign | 0x7f80_0000 | quiet);
    }
    // f64 zeros and subnormals are far below half of f32's smallest subnormal.
    if exp == 0 {
        return f32::from_bits(sign);
    }
    let m = mant | (1u64 << 52);
    // Biased f32 exponent of the leading bit.
    let e32 = exp - 896;
    if e32 >= 255 {
        return f32::from_bits(sign | 0x7f80_0000);
    }
    // Normal results keep 24 of m's 53 bits; subnormal results count units of 2^-149.
    let (shift, base) = if e32 >= 1 {
        (29u32, ((e32 - 1) as u32) << 23)
    } else {
        ((30 - e32) as u32, 0)
    };
    if shift > 63 {
        return f32::from_bits(sign);
    }
    let kept = (m >> shift) as u32;
    let rest = m & ((1u64 << shift) - 1);
    let half = 1u64 << (shift - 1);
    let up = rest > half || (rest == half && kept & 1 == 1);
    // A carry out of the significand bumps the exponent (and reaches inf at the top).
    let out = (base + kept + up as u32).min(0x7f80_0000);
    f32::from_bits(sign | out)
}

/// `pos − offset` where the offset is stored at `pos` with `width` bytes.
fn follow(buf: &[u8], pos: usize, width: usize) -> Option<usize> {
    let off = read_uint(buf, pos, width)?;
    let off = usize::try_from(off).ok()?;
    let target = pos.checked_sub(off)?;
    (target < buf.len()).then_some(target)
}

/// One value slot: where it lives, the parent's byte width and its packed type byte.
#[derive(Clone, Copy, Debug)]
pub struct FlexValue<'a> {
    buf: &'a [u8],
    pos: usize,
    parent_width: usize,
    packed: u8,
}

impl<'a> FlexValue<'a> {
    /// FlexBuffers type code of the value.
    pub fn type_code(&self) -> u8 {
        self.packed >> 2
    }

    fn child_width(&self) -> usize {
        1 << (self.packed & 3)
    }

    /// Integer value (int, uint, bool, or their indirect forms).
    pub fn as_i64(&self, key: &'static str) -> Result<i64, FlexError> {
        let oob = err(key, FlexProblem::OutOfBounds);
        match self.type_code() {
            T_INT => read_int(self.buf, self.pos, self.parent_width).ok_or(oob),
            T_UINT | T_BOOL => {
                let v = read_uint(self.buf, self.pos, self.parent_width).ok_or(oob)?;
                i64::try_from(v).map_err(|_| err(key, FlexProblem::IntRange))
            }
            T_INDIRECT_INT => {
                let t = follow(self.buf, self.pos, self.parent_width).ok_or(oob)?;
                read_int(self.buf, t, self.child_width()).ok_or(oob)
            }
            T_INDIRECT_UINT => {
                let t = follow(self.buf, self.pos, self.parent_width).ok_or(oob)?;
                let v = read_uint(self.buf, t, self.child_width()).ok_or(oob)?;
                i64::try_from(v).map_err(|_| err(key, FlexProblem::IntRange))
            }
            t => Err(err(key, FlexProblem::WrongType(t))),
        }
    }

    /// Finite float value as f32; integers within i32 are accepted and converted (as
    /// FlexBuffers' `AsDouble` does, then narrowed to f32 like every float option).
    pub fn as_f32(&self, key: &'static str) -> Result<f32, FlexError> {
        let oob = err(key, FlexProblem::OutOfBounds);
        let v = match self.type_code() {
            T_FLOAT => read_float(self.buf, self.pos, self.parent_width).ok_or(oob)?,
            T_INDIRECT_FLOAT => {
                let t = follow(self.buf, self.pos, self.parent_width).ok_or(oob)?;
                read_float(self.buf, t, self.child_width()).ok_or(oob)?
            }
            T_INT | T_UINT | T_INDIRECT_INT | T_INDIRECT_UINT => i32::try_from(self.as_i64(key)?)
                .map_err(|_| err(key, FlexProblem::IntRange))?
                as f32,
            t => return Err(err(key, FlexProblem::WrongType(t))),
        };
        if v.is_finite() {
            Ok(v)
        } else {
            Err(err(key, FlexProblem::NotFinite))
        }
    }

    /// Boolean value (bool, or int/uint where non-zero is true).
    pub fn as_bool(&self, key: &'static str) -> Result<bool, FlexError> {
        match self.type_code() {
            T_BOOL | T_INT | T_UINT | T_INDIRECT_INT | T_INDIRECT_UINT => {
                Ok(self.as_i64(key)? != 0)
            }
            t => Err(err(key, FlexProblem::WrongType(t))),
        }
    }

    /// String (or key) value.
    pub fn as_str(&self, key: &'static str) -> Result<&'a str, FlexError> {
        core::str::from_utf8(self.as_bytes(key)?).map_err(|_| err(key, FlexProblem::BadString))
    }

    /// String (or key) value as bytes, without UTF-8 validation: option values are compared
    /// with ASCII names, so a firmware need not link a UTF-8 validator.
    pub fn as_bytes(&self, key: &'static str) -> Result<&'a [u8], FlexError> {
        let oob = err(key, FlexProblem::OutOfBounds);
        match self.type_code() {
            T_STRING => {
                let t = follow(self.buf, self.pos, self.parent_width).ok_or(oob)?;
                let w = self.child_width();
                let len_pos = t.checked_sub(w).ok_or(oob)?;
                let len = read_uint(self.buf, len_pos, w).ok_or(oob)?;
                let len = usize::try_from(len).map_err(|_| oob)?;
                let end = t.checked_add(len).ok_or(oob)?;
                let bytes = self.buf.get(t..end).ok_or(oob)?;
                if self.buf.get(end) != Some(&0) {
                    return Err(err(key, FlexProblem::BadString));
                }
                Ok(bytes)
            }
            T_KEY => {
                let t = follow(self.buf, self.pos, self.parent_width).ok_or(oob)?;
                let rest = self.buf.get(t..).ok_or(oob)?;
                let n = rest
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or(err(key, FlexProblem::BadString))?;
                Ok(&rest[..n])
            }
            t => Err(err(key, FlexProblem::WrongType(t))),
        }
    }

    /// Vector of numbers (typed, fixed typed, or untyped).
    pub fn as_vector(&self, key: &'static str) -> Result<FlexVector<'a>, FlexError> {
        let oob = err(key, FlexProblem::OutOfBounds);
        let t = self.type_code();
        let w = self.child_width();
        let (elem, fixed_len) = match t {
            T_VECTOR => (None, None),
            T_VECTOR_INT | T_VECTOR_UINT | T_VECTOR_FLOAT | T_VECTOR_BOOL => {
                let e = match t {
                    T_VECTOR_INT => T_INT,
                    T_VECTOR_UINT => T_UINT,
                    T_VECTOR_FLOAT => T_FLOAT,
                    _ => T_BOOL,
                };
                (Some(e), None)
            }
            T_VECTOR_INT2..=T_VECTOR_FLOAT4 => {
                let k = t - T_VECTOR_INT2;
                (Some(T_INT + k % 3), Some((k / 3 + 2) as usize))
            }
            other => return Err(err(key, FlexProblem::WrongType(other))),
        };
        let start = follow(self.buf, self.pos, self.parent_width).ok_or(oob)?;
        let len = match fixed_len {
            Some(n) => n,
            None => {
                let lp = start.checked_sub(w).ok_or(oob)?;
                usize::try_from(read_uint(self.buf, lp, w).ok_or(oob)?).map_err(|_| oob)?
            }
        };
        let data_end = len
            .checked_mul(w)
            .and_then(|n| n.checked_add(start))
            .ok_or(oob)?;
        let types_end = if elem.is_none() {
            data_end.checked_add(len).ok_or(oob)?
        } else {
            data_end
        };
        if types_end > self.buf.len() {
            return Err(oob);
        }
        Ok(FlexVector {
            buf: self.buf,
            start,
            len,
            width: w,
            elem,
        })
    }
}

fn c_str(buf: &[u8], start: usize) -> Option<&str> {
    let rest = buf.get(start..)?;
    let n = rest.iter().position(|&b| b == 0)?;
    core::str::from_utf8(&rest[..n]).ok()
}

/// A vector view; elements are decoded on access.
#[derive(Clone, Copy, Debug)]
pub struct FlexVector<'a> {
    buf: &'a [u8],
    start: usize,
    len: usize,
    width: usize,
    /// Element type for typed vectors; `None` = untyped (type bytes follow the data).
    elem: Option<u8>,
}

impl<'a> FlexVector<'a> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element `i` as a value (bounds-checked).
    pub fn get(&self, i: usize, key: &'static str) -> Result<FlexValue<'a>, FlexError> {
        let oob = err(key, FlexProblem::OutOfBounds);
        if i >= self.len {
            return Err(oob);
        }
        let pos = self.start + i * self.width;
        let packed = match self.elem {
            Some(e) => (e << 2) | width_code(self.width),
            None => *self
                .buf
                .get(self.start + self.len * self.width + i)
                .ok_or(oob)?,
        };
        Ok(FlexValue {
            buf: self.buf,
            pos,
            parent_width: self.width,
            packed,
        })
    }

    /// Copies the elements as f32 into `out`, requiring `out.len()` elements exactly.
    pub fn read_f32_exact(&self, out: &mut [f32], key: &'static str) -> Result<(), FlexError> {
        if self.len != out.len() {
            return Err(err(
                key,
                FlexProblem::Length {
                    len: self.len,
                    expected: out.len(),
                },
            ));
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.get(i, key)?.as_f32(key)?;
        }
        Ok(())
    }
}

fn width_code(w: usize) -> u8 {
    match w {
        1 => 0,
        2 => 1,
        4 => 2,
        _ => 3,
    }
}

/// The root map of an options buffer.
#[derive(Clone, Copy, Debug)]
pub struct FlexMap<'a> {
    buf: &'a [u8],
    values: usize,
    len: usize,
    width: usize,
    keys: usize,
    keys_width: usize,
}

impl<'a> FlexMap<'a> {
    /// Parses the root of `buf`, which must be a map.
    pub fn root(buf: &'a [u8]) -> Result<FlexMap<'a>, FlexError> {
        let oob = err(ROOT, FlexProblem::OutOfBounds);
        let n = buf.len();
        if n < 3 {
            return Err(err(ROOT, FlexProblem::TooShort));
        }
        let bw = buf[n - 1];
        if !matches!(bw, 1 | 2 | 4 | 8) {
            return Err(err(ROOT, FlexProblem::BadRootWidth(bw)));
        }
        let bw = bw as usize;
        let packed = buf[n - 2];
        let pos = (n - 2)
            .checked_sub(bw)
            .ok_or(err(ROOT, FlexProblem::TooShort))?;
        let root = FlexValue {
            buf,
            pos,
            parent_width: bw,
            packed,
        };
        if root.type_code() != T_MAP {
            return Err(err(ROOT, FlexProblem::RootNotMap));
        }
        let w = root.child_width();
        let values = follow(buf, pos, bw).ok_or(oob)?;
        let len_pos = values.checked_sub(w).ok_or(oob)?;
        let len = usize::try_from(read_uint(buf, len_pos, w).ok_or(oob)?).map_err(|_| oob)?;
        let kw_pos = values.checked_sub(2 * w).ok_or(oob)?;
        let keys_width = read_uint(buf, kw_pos, w).ok_or(oob)? as usize;
        if !matches!(keys_width, 1 | 2 | 4 | 8) {
            return Err(oob);
        }
        let ko_pos = values.checked_sub(3 * w).ok_or(oob)?;
        let keys = follow(buf, ko_pos, w).ok_or(oob)?;
        // Values, then one type byte per value.
        let end = len
            .checked_mul(w + 1)
            .and_then(|b| b.checked_add(values))
            .ok_or(oob)?;
        let keys_end = len
            .checked_mul(keys_width)
            .and_then(|b| b.checked_add(keys))
            .ok_or(oob)?;
        if end > n || keys_end > n {
            return Err(oob);
        }
        Ok(FlexMap {
            buf,
            values,
            len,
            width: w,
            keys,
            keys_width,
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Key of entry `i` (`None` if malformed).
    pub fn key_at(&self, i: usize) -> Option<&'a str> {
        if i >= self.len {
            return None;
        }
        let slot = self.keys + i * self.keys_width;
        let t = follow(self.buf, slot, self.keys_width)?;
        c_str(self.buf, t)
    }

    /// The value stored under `key`, if present. Linear scan (option maps are tiny, and a
    /// scan does not trust the writer's sort order).
    pub fn get(&self, key: &'static str) -> Result<Option<FlexValue<'a>>, FlexError> {
        for i in 0..self.len {
            let slot = self.keys + i * self.keys_width;
            let t = follow(self.buf, slot, self.keys_width)
                .ok_or(err(key, FlexProblem::OutOfBounds))?;
            let matches = match self.buf.get(t..) {
                Some(rest) => {
                    rest.len() > key.len()
                        && &rest[..key.len()] == key.as_bytes()
                        && rest[key.len()] == 0
                }
                None => false,
            };
            if matches {
                let packed = *self
                    .buf
                    .get(self.values + self.len * self.width + i)
                    .ok_or(err(key, FlexProblem::OutOfBounds))?;
                return Ok(Some(FlexValue {
                    buf: self.buf,
                    pos: self.values + i * self.width,
                    parent_width: self.width,
                    packed,
                }));
            }
        }
        Ok(None)
    }

    fn required(&self, key: &'static str) -> Result<FlexValue<'a>, FlexError> {
        self.get(key)?.ok_or(err(key, FlexProblem::Missing))
    }

    /// Required i32.
    pub fn i32(&self, key: &'static str) -> Result<i32, FlexError> {
        let v = self.required(key)?.as_i64(key)?;
        i32::try_from(v).map_err(|_| err(key, FlexProblem::IntRange))
    }

    /// Optional i32 with a default.
    pub fn i32_or(&self, key: &'static str, default: i32) -> Result<i32, FlexError> {
        match self.get(key)? {
            Some(v) => i32::try_from(v.as_i64(key)?).map_err(|_| err(key, FlexProblem::IntRange)),
            None => Ok(default),
        }
    }

    /// Required non-negative integer as usize.
    pub fn usize(&self, key: &'static str) -> Result<usize, FlexError> {
        let v = self.required(key)?.as_i64(key)?;
        usize::try_from(v).map_err(|_| err(key, FlexProblem::IntRange))
    }

    /// Optional non-negative integer with a default.
    pub fn usize_or(&self, key: &'static str, default: usize) -> Result<usize, FlexError> {
        match self.get(key)? {
            Some(v) => usize::try_from(v.as_i64(key)?).map_err(|_| err(key, FlexProblem::IntRange)),
            None => Ok(default),
        }
    }

    /// Required finite f32.
    pub fn f32(&self, key: &'static str) -> Result<f32, FlexError> {
        self.required(key)?.as_f32(key)
    }

    /// Optional finite f32 with a default.
    pub fn f32_or(&self, key: &'static str, default: f32) -> Result<f32, FlexError> {
        match self.get(key)? {
            Some(v) => v.as_f32(key),
            None => Ok(default),
        }
    }

    /// Optional bool with a default.
    pub fn bool_or(&self, key: &'static str, default: bool) -> Result<bool, FlexError> {
        match self.get(key)? {
            Some(v) => v.as_bool(key),
            None => Ok(default),
        }
    }

    /// Optional string.
    pub fn str_opt(&self, key: &'static str) -> Result<Option<&'a str>, FlexError> {
        match self.get(key)? {
            Some(v) => v.as_str(key).map(Some),
            None => Ok(None),
        }
    }

    /// Optional string as bytes (see [`FlexValue::as_bytes`]).
    pub fn bytes_opt(&self, key: &'static str) -> Result<Option<&'a [u8]>, FlexError> {
        match self.get(key)? {
            Some(v) => v.as_bytes(key).map(Some),
            None => Ok(None),
        }
    }

    /// Required vector of floats copied into `out[..len]`; returns `len` (≤ `out.len()`).
    pub fn f32_vec(&self, key: &'static str, out: &mut [f32]) -> Result<usize, FlexError> {
        let v = self.required(key)?.as_vector(key)?;
        if v.len() > out.len() {
            return Err(err(
                key,
                FlexProblem::TooLong {
                    len: v.len(),
                    max: out.len(),
                },
            ));
        }
        v.read_f32_exact(&mut out[..v.len()], key)?;
        Ok(v.len())
    }

    /// True when the value under `key` is present and not null.
    pub fn has(&self, key: &'static str) -> Result<bool, FlexError> {
        Ok(matches!(self.get(key)?, Some(v) if v.type_code() != T_NULL))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = flexbuffers::Builder::default();
        let mut m = b.start_map();
        m.push("a", 5i32);
        m.push("neg", -70000i32);
        m.push("big", 3_000_000_000u32);
        m.push("f", 0.25f32);
        m.push("d", 1.0e-30f64);
        m.push("yes", true);
        m.push("name", "student_t");
        let mut v = m.start_vector("w");
        v.push(0.5f32);
        v.push(1.5f32);
        v.end_vector();
        let mut v = m.start_vector("mixed");
        v.push(1i32);
        v.push(2.5f64);
        v.end_vector();
        m.end_map();
        b.view().to_vec()
    }

    #[test]
    fn reads_what_flexbuffers_writes() {
        let buf = sample();
        let m = FlexMap::root(&buf).unwrap();
        assert_eq!(m.len(), 9);
        assert_eq!(m.i32("a").unwrap(), 5);
        assert_eq!(m.i32("neg").unwrap(), -70000);
        assert_eq!(
            m.i32("big").unwrap_err().problem,
            FlexProblem::IntRange,
            "u32 above i32::MAX must not wrap"
        );
        assert_eq!(m.f32("f").unwrap(), 0.25);
        assert_eq!(m.f32("a").unwrap(), 5.0);
        assert!(m.bool_or("yes", false).unwrap());
        assert!(!m.bool_or("absent", false).unwrap());
        assert_eq!(m.str_opt("name").unwrap(), Some("student_t"));
        let mut w = [0f32; 4];
        assert_eq!(m.f32_vec("w", &mut w).unwrap(), 2);
        assert_eq!(&w[..2], &[0.5, 1.5]);
        assert_eq!(m.f32_vec("mixed", &mut w).unwrap(), 2);
        assert_eq!(&w[..2], &[1.0, 2.5]);
        let mut small = [0f32; 1];
        assert!(matches!(
            m.f32_vec("w", &mut small).unwrap_err().problem,
            FlexProblem::TooLong { len: 2, max: 1 }
        ));
        assert_eq!(m.i32("missing").unwrap_err().problem, FlexProblem::Missing);
        assert!(matches!(
            m.i32("name").unwrap_err().problem,
            FlexProblem::WrongType(_)
        ));
        assert_eq!(m.i32_or("missing", 7).unwrap(), 7);
    }

    #[test]
    fn every_prefix_and_corruption_is_an_error_not_a_panic() {
        let buf = sample();
        for n in 0..buf.len() {
            // A prefix must not parse as the full map; reading keys must not panic.
            if let Ok(m) = FlexMap::root(&buf[..n]) {
                let _ = m.i32("a");
                let _ = m.str_opt("name");
                let mut w = [0f32; 8];
                let _ = m.f32_vec("w", &mut w);
            }
        }
        // Byte flips anywhere: never panic.
        for i in 0..buf.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = buf.clone();
                b[i] ^= flip;
                if let Ok(m) = FlexMap::root(&b) {
                    for k in ["a", "neg", "f", "yes", "name", "w", "mixed"] {
                        let _ = m.i32(k);
                        let _ = m.f32(k);
                        let _ = m.str_opt(k);
                        let mut w = [0f32; 8];
                        let _ = m.f32_vec(k, &mut w);
                    }
                }
            }
        }
        assert_eq!(
            FlexMap::root(&[]).unwrap_err().problem,
            FlexProblem::TooShort
        );
        assert_eq!(
            FlexMap::root(&[1, 2, 3]).unwrap_err().problem,
            FlexProblem::BadRootWidth(3)
        );
    }

    #[test]
    fn f64_narrowing_matches_as_f32() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let check = |bits: u64| {
            let want = f64::from_bits(bits) as f32;
            let got = f32_from_f64_bits(bits);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{bits:#018x}: {got:e} vs {want:e}"
            );
        };
        for v in [
            0.0f64,
            -0.0,
            1.0,
            0.1,
            -2.5e-30,
            1e-45,
            7e-46,
            1.4e-45,
            f32::MAX as f64,
            3.4028235677973366e38,
            3.5e38,
            1e300,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1.0 + f64::EPSILON,
            f32::MIN_POSITIVE as f64 * (1.0 - 1e-9),
        ] {
            check(v.to_bits());
        }
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check(x);
            // Exponents near f32's range, and exact ties.
            let e = 0x380 + (x >> 52) % 0x80;
            check((x & 0x800f_ffff_ffff_ffff) | (e << 52));
            check((x & 0x800f_ffff_e000_0000) | (1 << 28) | (e << 52));
        }
    }

    #[test]
    fn non_map_root_is_rejected() {
        let buf = flexbuffers::singleton(5i32);
        assert_eq!(
            FlexMap::root(&buf).unwrap_err().problem,
            FlexProblem::RootNotMap
        );
    }
}
