//! Attaching the SNAP ops to a model, and the plan file that carries everything attach needs
//! (`snap-convert calibrate` writes it, `snap-convert attach` reads it).
//!
//! Placement (so the arena grows as little as possible): SNAP_PROJECT right after the producer
//! of `a_{ℓ-1}` (its input is live there anyway, and its output `z` is only `r` bytes),
//! SNAP_SURPRISAL right after the producer of `a_ℓ`, SNAP_CALIBRATE last. Original operators,
//! tensors and outputs keep their indices; the new outputs `snapuq/U` (float32), `snapuq/S`
//! (float32) and `snapuq/abstain` (uint8) are appended.
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use snapuq_fit::calibrate::{calibrate_options, Calibrator};
use snapuq_fit::quantize::QuantizedTap;
use snapuq_model::{Model, NewOperator, Quantization, TensorData, TensorType};
use snapuq_ops::OpKind;
use std::path::{Path, PathBuf};

use crate::pipeline::{Backbone, ClassifierSpec, Site};

/// Format tag of [`Plan`] files.
pub const PLAN_FORMAT: &str = "snapuq-plan/1";

/// One tap of a plan: where it goes and its int8 tensors and scales.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanTap {
    pub site: Site,
    pub quantized: QuantizedTap,
    pub weight: f64,
}

/// Everything needed to attach the ops (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: String,
    pub taps: Vec<PlanTap>,
    pub classifier: ClassifierSpec,
    pub alpha: f32,
    pub calibrator: Calibrator,
    pub tau: f32,
}

impl Plan {
    pub fn read(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read plan file {}", path.display()))?;
        let p: Plan = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid snap-convert plan", path.display()))?;
        if p.format != PLAN_FORMAT {
            bail!(
                "{}: plan format `{}` (this snap-convert reads `{PLAN_FORMAT}`)",
                path.display(),
                p.format
            );
        }
        Ok(p)
    }
}

/// What [`attach`] added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attached {
    /// Output indices of U, S and the abstain flag.
    pub u_output: usize,
    pub s_output: usize,
    pub abstain_output: usize,
    /// Constant bytes added (tensor data).
    pub added_param_bytes: u64,
    /// SNAP_CALIBRATE cost (MACs, parameter bytes).
    pub calibrate_cost: (u64, u64),
}

fn per_tensor(scale: f32, zp: i32) -> Option<Quantization> {
    Some(Quantization::per_tensor(scale, zp as i64))
}

/// Adds the SNAP ops of `plan` to `bb`'s model and returns the new model.
pub fn attach(bb: &Backbone, plan: &Plan) -> Result<(Model, Attached)> {
    let mut m = Model::from_bytes(&bb.bytes)?;
    if m.operators().iter().enumerate().any(|(i, _)| {
        matches!(m.op_code(i), Some(snapuq_model::OpCode::Custom(c)) if c.starts_with("SNAP_"))
    }) {
        bail!("the model already has SNAP ops; convert the original (unaugmented) model");
    }
    if plan.classifier != bb.classifier {
        bail!("the plan was made for another model (classifier output differs)");
    }
    let mut inserts: Vec<(usize, u8, NewOperator)> = Vec::new();
    let mut ebar_tensors = Vec::new();
    // The classwise map reads SNAP_PROJECT's stats output of its first `stats` taps.
    let n_stats = match &plan.calibrator {
        Calibrator::Classwise(c) => c.stats,
        _ => 0,
    };
    if n_stats > plan.taps.len() {
        bail!(
            "the plan's calibrator reads {n_stats} stats inputs but has {} taps",
            plan.taps.len()
        );
    }
    let mut stats_tensors = Vec::new();
    let mut bytes = 0u64;
    for (k, t) in plan.taps.iter().enumerate() {
        let q = &t.quantized;
        let s = &t.site;
        let name = |part: &str| format!("snapuq/tap{k}/{part}");
        if s.choice.tensor >= m.tensors().len() || s.choice.previous_tensor >= m.tensors().len() {
            bail!("plan tap {k} names tensors the model does not have");
        }
        let (r, ci, co) = (q.rank as i32, q.c_in as i32, q.c_out as i32);
        let z = m.add_intermediate_tensor(
            &name("z"),
            &[1, r],
            TensorType::INT8,
            per_tensor(q.z.scale, q.z.zero_point),
        )?;
        // r = C_in: SNAP_PROJECT's identity form, no P and no bias (docs/ops.md).
        let mut project_inputs = vec![s.choice.previous_tensor as i32];
        if !q.is_identity() {
            project_inputs.push(m.add_constant_tensor(
                &name("P"),
                &[r, ci],
                TensorData::Int8(q.p.clone()),
                per_tensor(q.p_scale, 0),
            )?);
        }
        if !q.p_bias.is_empty() {
            if q.is_identity() {
                // TFLM's marker for an omitted optional input (P).
                project_inputs.push(-1);
            }
            project_inputs.push(m.add_constant_tensor(
                &name("P_bias"),
                &[r],
                TensorData::Int32(q.p_bias.clone()),
                per_tensor(q.prev.scale * q.p_scale, 0),
            )?);
        }
        let wmu = m.add_constant_tensor(
            &name("W_mu"),
            &[co, r],
            TensorData::Int8(q.w_mu.clone()),
            per_tensor(q.wmu_scale, 0),
        )?;
        let bmu = m.add_constant_tensor(
            &name("b_mu"),
            &[co],
            TensorData::Int32(q.b_mu.clone()),
            per_tensor(q.wmu_scale * q.z.scale, 0),
        )?;
        let wls = m.add_constant_tensor(
            &name("W_ls"),
            &[co, r],
            TensorData::Int8(q.w_ls.clone()),
            per_tensor(q.wls_scale, 0),
        )?;
        let bls = m.add_constant_tensor(
            &name("b_ls"),
            &[co],
            TensorData::Int32(q.b_ls.clone()),
            per_tensor(q.wls_scale * q.z.scale, 0),
        )?;
        let lut =
            m.add_constant_tensor(&name("lut"), &[256], TensorData::Int32(q.lut.clone()), None)?;
        let ebar = m.add_intermediate_tensor(&name("ebar"), &[1], TensorType::FLOAT32, None)?;
        bytes += (q.p.len() + q.w_mu.len() + q.w_ls.len()) as u64
            + 4 * (q.p_bias.len() + q.b_mu.len() + q.b_ls.len() + q.lut.len()) as u64;
        let po = q.project_options()?.to_flexbuffer();
        let so = q.surprisal_options()?.to_flexbuffer();
        let mut project_outputs = vec![z];
        if k < n_stats {
            let st = m.add_intermediate_tensor(
                &name("stats"),
                &[1, snapuq_ops::project::STATS_PER_SAMPLE as i32],
                TensorType::FLOAT32,
                None,
            )?;
            project_outputs.push(st);
            stats_tensors.push(st);
        }
        inserts.push((
            s.project_at,
            1,
            NewOperator::custom(
                OpKind::Project.custom_code(),
                project_inputs,
                project_outputs,
                po,
            ),
        ));
        inserts.push((
            s.surprisal_at,
            0,
            NewOperator::custom(
                OpKind::Surprisal.custom_code(),
                vec![z, s.choice.tensor as i32, wmu, bmu, wls, bls, lut],
                vec![ebar],
                so,
            ),
        ));
        ebar_tensors.push(ebar);
    }
    // Descending positions keep the original indices valid while inserting; at one position
    // SNAP_SURPRISAL goes in first so the SNAP_PROJECT inserted after it runs before it.
    inserts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (pos, _, op) in inserts {
        m.insert_operator(pos, op)?;
    }
    let weights: Vec<f64> = plan.taps.iter().map(|t| t.weight).collect();
    let copts = calibrate_options(
        &weights,
        plan.classifier.input(),
        plan.alpha,
        &plan.calibrator,
        plan.tau,
        None,
    )?;
    let mut inputs = ebar_tensors;
    inputs.push(plan.classifier.tensor as i32);
    let mut table_len = 0;
    if let Calibrator::Isotonic(t) = &plan.calibrator {
        table_len = t.thresholds.len();
        let tab = m.add_constant_tensor(
            "snapuq/isotonic",
            &[2, table_len as i32],
            TensorData::Float32(t.tensor()),
            None,
        )?;
        bytes += 8 * table_len as u64;
        inputs.push(tab);
    }
    if let Calibrator::Classwise(c) = &plan.calibrator {
        table_len = c.width();
        let tab = m.add_constant_tensor(
            "snapuq/classwise",
            &[2, table_len as i32],
            TensorData::Float32(c.table.clone()),
            None,
        )?;
        bytes += 8 * table_len as u64;
        inputs.push(tab);
        inputs.extend_from_slice(&stats_tensors);
    }
    let u = m.add_intermediate_tensor("snapuq/U", &[1], TensorType::FLOAT32, None)?;
    let s = m.add_intermediate_tensor("snapuq/S", &[1], TensorType::FLOAT32, None)?;
    let ab = m.add_intermediate_tensor("snapuq/abstain", &[1], TensorType::UINT8, None)?;
    let n_ops = m.operators().len();
    m.insert_operator(
        n_ops,
        NewOperator::custom(
            OpKind::Calibrate.custom_code(),
            inputs,
            vec![u, s, ab],
            copts.to_flexbuffer(),
        ),
    )?;
    let u_output = m.add_output(u)?;
    let s_output = m.add_output(s)?;
    let abstain_output = m.add_output(ab)?;
    let ccost = snapuq_ops::calibrate::cost(&copts, table_len);
    m.set_metadata(
        "snapuq",
        serde_json::to_vec(&serde_json::json!({
            "format": "snapuq-model/1",
            "outputs": {"U": u_output, "S": s_output, "abstain": abstain_output},
            "taps": plan.taps.iter().map(|t| &t.site.choice.name).collect::<Vec<_>>(),
            "tau": plan.tau,
        }))?,
    );
    m.validate()
        .map_err(|e| anyhow!("the augmented model does not validate: {e}"))?;
    Ok((
        m,
        Attached {
            u_output,
            s_output,
            abstain_output,
            added_param_bytes: bytes,
            calibrate_cost: (ccost.macs, ccost.param_bytes),
        },
    ))
}

/// `<dir>/<stem>.snap.tflite` next to the input.
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model");
    input.with_file_name(format!("{stem}.snap.tflite"))
}

/// Refuses to write over the input model.
pub fn check_output(input: &Path, out: &Path) -> Result<()> {
    let same = match (input.canonicalize(), out.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => input == out,
    };
    if same {
        bail!(
            "refusing to write the augmented model over the input {}; choose another -o path",
            input.display()
        );
    }
    Ok(())
}

/// Fails early (before any fitting) when `out`'s folder cannot take a new file.
pub fn check_writable(out: &Path) -> Result<()> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tempfile::NamedTempFile::new_in(&dir).with_context(|| {
        format!(
            "cannot write to output folder {} (does it exist and is it writable?)",
            dir.display()
        )
    })?;
    Ok(())
}

/// Gives a temporary output file the permissions a plainly created file would have: those of
/// the file it replaces, else `rw-r--r--` (temporary files start as `rw-------`, which would
/// leave a model other users or a build container cannot read).
pub fn set_output_permissions(tmp: &std::fs::File, out: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let perms = std::fs::metadata(out)
            .map(|m| m.permissions())
            .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644));
        tmp.set_permissions(perms)?;
    }
    #[cfg(not(unix))]
    {
        let _ = (tmp, out);
    }
    Ok(())
}

/// Writes `bytes` to `out` atomically (a temporary file in the same folder, then rename).
pub fn write_atomic(out: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).with_context(|| {
        format!(
            "cannot write to output folder {} (does it exist and is it writable?)",
            dir.display()
        )
    })?;
    tmp.write_all(bytes)
        .and_then(|_| set_output_permissions(tmp.as_file(), out))
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", out.display()))?;
    tmp.persist(out)
        .map_err(|e| anyhow!("cannot write {}: {}", out.display(), e.error))?;
    Ok(())
}
