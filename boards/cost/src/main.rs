//! `cost-table`: measures what SNAP costs on the two MCU tiers and prints the table of
//! docs/costs.md.
//!
//! For each model (DS-CNN, ResNet-8 from the shared root) it makes the augmented models with
//! snap-convert (default taps, `--rank r`), builds the runner firmware of each tier with the
//! plain and each augmented model embedded, reads flash and static RAM from the linked ELF,
//! boots it under QEMU with `-icount shift=0` and reads the stack high-water mark and the
//! backbone/SNAP instruction counts it prints. Nothing is estimated: a cell is either measured
//! or carries the linker's verdict.
mod convert;
mod firmware;
mod footprint;
mod inputs;
mod memory_map;
mod runlog;
mod sources;
mod table;
mod verdict;

use anyhow::{bail, Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use firmware::{Embed, Firmware, Tier};
use footprint::Footprint;
use inputs::ModelSpec;
use runlog::RunLog;
use table::{Cell, Measured, Outcome};
use verdict::BuildFailure;

/// Measure flash, RAM and instructions of SNAP on the Big-MCU and Small-MCU tiers (QEMU).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Shared reference root holding models/ and data/ (default: SNAPUQ_SHARED, else ../shared
    /// beside the repository).
    #[arg(long)]
    shared: Option<PathBuf>,
    /// Projection ranks r of the augmented models.
    #[arg(long, value_delimiter = ',', default_values_t = vec![32, 64, 128])]
    ranks: Vec<u32>,
    /// Tiers, in the order they are measured: big, small.
    #[arg(long, value_delimiter = ',', default_values_t = vec!["big".to_string(), "small".to_string()])]
    tiers: Vec<String>,
    /// Models: dscnn, resnet8.
    #[arg(long, value_delimiter = ',', default_values_t = vec!["dscnn".to_string(), "resnet8".to_string()])]
    models: Vec<String>,
    /// Inputs embedded in (and inferences run by) each firmware; instruction counts are their
    /// mean.
    #[arg(long, default_value_t = 3)]
    samples: usize,
    /// Calibration samples given to snap-convert.
    #[arg(long, default_value_t = 300)]
    calib: usize,
    /// Dev samples given to snap-convert.
    #[arg(long, default_value_t = 200)]
    dev: usize,
    /// Work folder for the data, the augmented models and the ELF images (default:
    /// <target dir>/snapuq-cost).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Cargo target dir of the firmware builds (default: examples/firmware/target, the one the
    /// QEMU test uses).
    #[arg(long)]
    fw_target_dir: Option<PathBuf>,
    /// Use this snap-convert binary instead of building the workspace's one.
    #[arg(long)]
    snap_convert: Option<PathBuf>,
    /// Parallel jobs of the firmware builds (cargo -j).
    #[arg(long)]
    jobs: Option<usize>,
    /// Wall-clock limit of one QEMU run, seconds.
    #[arg(long, default_value_t = 600)]
    qemu_timeout: u64,
    /// Also write every cell as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Root of the repository (this crate is boards/cost).
fn repo_root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..");
    p.canonicalize().unwrap_or(p)
}

/// Progress: a bar on a terminal, plain lines otherwise (so logs keep every step).
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(steps: u64) -> Progress {
        let bar = ProgressBar::new(steps);
        if let Ok(style) = ProgressStyle::with_template("[{elapsed_precise}] {pos}/{len} {msg}") {
            bar.set_style(style);
        }
        Progress { bar }
    }

    fn start(&self, what: &str) {
        self.bar.set_message(what.to_string());
        if self.bar.is_hidden() {
            eprintln!(
                "[{}/{}] {what} …",
                self.bar.position() + 1,
                self.bar.length().unwrap_or(0)
            );
        }
    }

    fn done(&self, line: &str) {
        self.bar.inc(1);
        self.note(line);
    }

    /// A line that is not a step of its own.
    fn note(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("    {line}");
        } else {
            self.bar.println(line);
        }
    }
}

fn run(args: Args) -> Result<()> {
    let repo = repo_root();
    let shared = args
        .shared
        .clone()
        .unwrap_or_else(snapuq_testkit::shared_root);
    let shared = shared.canonicalize().unwrap_or(shared);
    if !shared.is_dir() {
        bail!(
            "the shared reference root {} is missing: pass --shared DIR or set SNAPUQ_SHARED to the folder holding models/ and data/",
            shared.display()
        );
    }
    if args.samples == 0 {
        bail!("--samples must be at least 1");
    }
    if args.ranks.is_empty() {
        bail!("--ranks needs at least one rank");
    }
    let models: Vec<ModelSpec> = args
        .models
        .iter()
        .map(|k| inputs::model(k))
        .collect::<Result<_>>()?;
    let tiers: Vec<Tier> = args
        .tiers
        .iter()
        .map(|k| firmware::tier(k))
        .collect::<Result<_>>()?;
    for m in &models {
        let p = shared.join(m.file);
        if !p.is_file() {
            bail!(
                "{} is missing from the shared root {} (pass --shared DIR or set SNAPUQ_SHARED)",
                m.file,
                shared.display()
            );
        }
    }
    firmware::preflight()?;

    let work = match &args.work {
        Some(w) => w.clone(),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .context("cannot derive a work folder from the executable; pass --work DIR")?
            .join("snapuq-cost"),
    };
    std::fs::create_dir_all(work.join("elf"))
        .with_context(|| format!("cannot create {}", work.display()))?;
    let fw = Firmware {
        dir: repo.join("examples").join("firmware"),
        target_dir: args
            .fw_target_dir
            .clone()
            .unwrap_or_else(|| repo.join("examples").join("firmware").join("target")),
        jobs: args.jobs,
    };

    let n_variants = 1 + args.ranks.len() as u64;
    let steps = 1
        + models.len() as u64 * (1 + args.ranks.len() as u64)
        + tiers.len() as u64 * models.len() as u64 * n_variants;
    let progress = Progress::new(steps);
    let t0 = Instant::now();

    progress.start("snap-convert");
    let snap_convert = match &args.snap_convert {
        Some(p) if p.is_file() => p.clone(),
        Some(p) => bail!("--snap-convert {} is not a file", p.display()),
        None => convert::build_snap_convert(&repo)?,
    };
    progress.done(&format!("snap-convert: {}", snap_convert.display()));

    let mut variants: Vec<Variant> = Vec::new();
    let mut descriptions = Vec::new();
    for spec in &models {
        progress.start(&format!("{}: data", spec.name));
        let data = inputs::prepare(
            spec,
            &shared,
            &work.join("data"),
            args.calib,
            args.dev,
            args.samples,
        )?;
        progress.done(&format!("{}: {}", spec.name, data.description));
        descriptions.push(format!("{}: {}", spec.name, data.description));
        let plain = shared.join(spec.file);
        let taps = convert::default_taps(&snap_convert, &plain)?;
        variants.push(Variant {
            spec: *spec,
            rank: None,
            tap_ranks: Vec::new(),
            model: Ok(plain.clone()),
            inputs: data.fw_inputs.clone(),
            labels: data.fw_labels.clone(),
        });
        std::fs::create_dir_all(work.join("models"))?;
        for &r in &args.ranks {
            progress.start(&format!("{} r={r}: snap-convert", spec.name));
            let out = work
                .join("models")
                .join(format!("{}-r{r}.tflite", spec.key));
            let res = convert::augment(
                &snap_convert,
                &plain,
                &data.data_args,
                &data.convert_args,
                &taps,
                r,
                &out,
            )
            .map_err(|e| format!("{e:#}"));
            progress.done(&match &res {
                Ok(ranks) => format!(
                    "{} r={r}: {} (tap ranks {ranks:?})",
                    spec.name,
                    out.display()
                ),
                Err(e) => format!("{} r={r}: {}", spec.name, e),
            });
            variants.push(Variant {
                spec: *spec,
                rank: Some(r),
                tap_ranks: res.clone().unwrap_or_default(),
                model: res.map(|_| out),
                inputs: data.fw_inputs.clone(),
                labels: data.fw_labels.clone(),
            });
        }
    }

    let mut cells = Vec::new();
    let bench = Bench {
        fw: &fw,
        work: &work,
        samples: args.samples,
        timeout: Duration::from_secs(args.qemu_timeout),
        progress: &progress,
    };
    for tier in &tiers {
        let map = tier.memory_map(&repo)?;
        for spec in &models {
            let group: Vec<&Variant> = variants.iter().filter(|v| v.spec == *spec).collect();
            // The plain and augmented firmware of a group must be built from the same code, or
            // their difference is not SNAP's: measure again when the sources moved meanwhile.
            let mut attempt = 1;
            let measured = loop {
                let before = sources::fingerprint(&repo);
                let measured: Vec<Cell> = group
                    .iter()
                    .map(|v| measure_variant(&bench, *tier, &map, v))
                    .collect();
                let stable = sources::fingerprint(&repo) == before;
                if stable || attempt == 2 {
                    break measured
                        .into_iter()
                        .map(|mut c| {
                            c.sources_changed = !stable;
                            c
                        })
                        .collect::<Vec<_>>();
                }
                attempt += 1;
                progress.bar.inc_length(group.len() as u64);
                progress.note(&format!(
                    "{} {}: the firmware sources changed during the measurement; measuring again",
                    tier.name, spec.name
                ));
            };
            cells.extend(measured);
        }
    }
    progress.bar.finish_and_clear();
    table::fill_deltas(&mut cells);

    let md = table::markdown(&cells);
    let sum = table::summary(&cells);
    println!("\n{md}");
    println!("{sum}");
    println!("Data: ");
    for d in &descriptions {
        println!("  {d}");
    }
    println!("Measured in {:.0} s.", t0.elapsed().as_secs_f64());
    if let Some(j) = &args.json {
        let doc = serde_json::json!({
            "format": "snapuq-cost/1",
            "unit": "retired instructions per inference (QEMU -icount shift=0), bytes",
            "samples": args.samples,
            "ranks": args.ranks,
            "data": descriptions,
            "cells": cells,
            "markdown": md,
            "summary": sum,
        });
        std::fs::write(j, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("cannot write {}", j.display()))?;
    }
    Ok(())
}

/// One model file to measure on every tier.
struct Variant {
    spec: ModelSpec,
    /// `None`: the plain model.
    rank: Option<u32>,
    /// The rank of each tap (`min(r, C_in)`).
    tap_ranks: Vec<u32>,
    /// The .tflite, or why it could not be made.
    model: Result<PathBuf, String>,
    inputs: PathBuf,
    labels: PathBuf,
}

/// What every cell's measurement shares.
struct Bench<'a> {
    fw: &'a Firmware,
    work: &'a Path,
    samples: usize,
    timeout: Duration,
    progress: &'a Progress,
}

/// Measures one variant on one tier and reports the step.
fn measure_variant(b: &Bench, tier: Tier, map: &memory_map::MemoryMap, v: &Variant) -> Cell {
    let (fw, work, samples, timeout, progress) = (b.fw, b.work, b.samples, b.timeout, b.progress);
    let variant = v.rank.map_or("plain".into(), |r| format!("r{r}"));
    let label = format!("{} {} {variant}", tier.name, v.spec.name);
    progress.start(&label);
    let model_bytes = v
        .model
        .as_ref()
        .ok()
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    let outcome = match &v.model {
        Err(e) => Outcome::Failed { error: e.clone() },
        Ok(model) => measure_cell(
            fw,
            tier,
            map,
            &Embed {
                model,
                inputs: &v.inputs,
                labels: &v.labels,
                samples,
            },
            &work
                .join("elf")
                .join(format!("{}-{}-{variant}.elf", tier.key, v.spec.key)),
            timeout,
        ),
    };
    progress.done(&format!("{label}: {}", describe(&outcome)));
    Cell {
        model: v.spec.name.to_string(),
        tier: tier.name.to_string(),
        rank: v.rank,
        tap_ranks: v.tap_ranks.clone(),
        model_bytes,
        outcome,
        snap_flash_delta: None,
        snap_flash: None,
        snap_ram_delta: None,
        sources_changed: false,
    }
}

/// Builds, sizes and runs one firmware; the ELF is kept at `keep`.
fn measure_cell(
    fw: &Firmware,
    tier: Tier,
    map: &memory_map::MemoryMap,
    embed: &Embed,
    keep: &Path,
    timeout: Duration,
) -> Outcome {
    let elf = match fw.build(tier, embed) {
        Err(e) => {
            return Outcome::Failed {
                error: format!("{e:#}"),
            }
        }
        Ok(Err(f @ BuildFailure::DoesNotFit { .. })) => {
            return Outcome::DoesNotFit { verdict: f.cell() }
        }
        Ok(Err(f)) => return Outcome::Failed { error: f.cell() },
        Ok(Ok(elf)) => elf,
    };
    // The next build overwrites the ELF: keep a copy for inspection.
    let elf = match std::fs::copy(&elf, keep) {
        Ok(_) => keep.to_path_buf(),
        Err(_) => elf,
    };
    let sized = std::fs::read(&elf)
        .with_context(|| format!("cannot read {}", elf.display()))
        .and_then(|bytes| {
            Ok((
                Footprint::from_elf(&bytes, map)?,
                footprint::snap_symbol_bytes(&bytes)?,
            ))
        });
    let (fp, snap_code) = match sized {
        Ok(v) => v,
        Err(e) => {
            return Outcome::Failed {
                error: format!("{}: {e:#}", elf.display()),
            }
        }
    };
    let log = firmware::run_qemu(tier, &elf, timeout).and_then(|out| RunLog::parse(&out));
    match log {
        Ok(log) => Outcome::Measured(Measured::new(fp, snap_code, &log)),
        Err(e) => Outcome::Failed {
            error: format!("{e:#}"),
        },
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Measured(m) => format!(
            "flash {} B (SNAP kernels {} B), static RAM {} B + stack {} B, backbone {} + SNAP {} {} ({:.3}%)",
            m.flash,
            m.snap_code,
            m.static_ram,
            m.stack,
            m.backbone,
            m.snap,
            m.unit,
            m.overhead_pct()
        ),
        Outcome::DoesNotFit { verdict } => verdict.clone(),
        Outcome::Failed { error } => format!("failed: {error}"),
    }
}
