//! The pipeline's steps as subcommands, for users who want to look at or replace one step:
//! `taps` (list/choose taps), `fit` (heads → heads JSON), `calibrate` (heads + dev → plan
//! JSON), `attach` (plan → augmented model). `snap-convert model.tflite` runs them all.
pub mod taps {
    use anyhow::Result;
    use std::path::PathBuf;

    use crate::convert::TapArgs;
    use crate::pipeline::Backbone;

    #[derive(clap::Args, Debug)]
    pub struct Args {
        /// The int8 .tflite model.
        pub model: PathBuf,
        #[command(flatten)]
        pub taps: TapArgs,
        /// Print JSON (candidates and the chosen taps).
        #[arg(long)]
        pub json: bool,
    }

    pub fn run(args: &Args) -> Result<()> {
        let bb = Backbone::load(&args.model)?;
        let cands = bb.candidates();
        let sites = bb.select(args.taps.taps.as_deref(), args.taps.policy())?;
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "backbone_macs": bb.macs,
                    "candidates": cands,
                    "chosen": sites,
                }))?
            );
            return Ok(());
        }
        println!(
            "backbone: {} MACs; tap candidates (a_l <- a_(l-1)):",
            bb.macs
        );
        for c in &cands {
            let prev = c.previous.as_ref().map_or("unusable".to_string(), |p| {
                format!("<- tensor {} (C_in={}, HW={})", p.tensor, p.c_in, p.in_hw)
            });
            println!(
                "  tensor {:>3} {:<40} C={:<4} HW={:<5} {prev}{}",
                c.tensor,
                c.name,
                c.c_out,
                c.out_hw,
                c.unusable_reason
                    .as_ref()
                    .map_or(String::new(), |r| format!(" ({r})"))
            );
        }
        println!("chosen:");
        for s in &sites {
            let c = &s.choice;
            println!(
                "  {} (tensor {} <- {}): r = {}, {} MACs ({:.3}% of backbone), {} parameter bytes{}",
                c.name,
                c.tensor,
                c.previous_tensor,
                c.rank,
                c.cost.total_macs(),
                100.0 * c.cost.total_macs() as f64 / bb.macs.max(1) as f64,
                c.cost.param_bytes,
                if c.notes.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", c.notes.join("; "))
                }
            );
        }
        Ok(())
    }
}

pub mod fit {
    use anyhow::Result;
    use std::path::PathBuf;

    use crate::convert::{
        fitted_taps, write_json, DataArgs, HeadsFile, HeadsTap, TapArgs, HEADS_FORMAT,
    };
    use crate::pipeline::{self, Backbone};

    #[derive(clap::Args, Debug)]
    pub struct Args {
        /// The int8 .tflite model.
        pub model: PathBuf,
        #[command(flatten)]
        pub data: DataArgs,
        #[command(flatten)]
        pub taps: TapArgs,
        /// Optimizer steps of the log σ² head fit.
        #[arg(long)]
        pub steps: Option<usize>,
        /// Heads file to write (snapuq-heads/1 JSON).
        #[arg(short, long)]
        pub output: PathBuf,
    }

    pub fn run(args: &Args) -> Result<()> {
        let bb = Backbone::load(&args.model)?;
        crate::attach::check_writable(&args.output)?;
        let resolver = pipeline::resolver()?;
        let (calib, _) = args.data.load(&bb, false)?;
        let taps = fitted_taps(&bb, &resolver, &args.taps, None, &calib, args.steps)?;
        for t in &taps {
            println!(
                "tap {} (tensor {}): r = {}, held-out E[ē] = {:.3} (int8 kernels), int8 vs float ē mean {:.2}%, weight {:.3}",
                t.site.choice.name,
                t.site.choice.tensor,
                t.heads.rank,
                t.ebar_mean,
                100.0 * t.int8_error.mean_rel,
                t.weight
            );
        }
        let file = HeadsFile {
            format: HEADS_FORMAT.into(),
            taps: taps
                .iter()
                .map(|t| HeadsTap {
                    tensor: t.site.choice.name.clone(),
                    heads: t.heads.clone(),
                    diagnostics: Some(t.diagnostics.clone()),
                })
                .collect(),
        };
        write_json(&args.output, &file)?;
        println!("wrote {}", args.output.display());
        Ok(())
    }
}

pub mod calibrate {
    use anyhow::{Context, Result};
    use std::path::PathBuf;

    use crate::convert::{fitted_taps, make_plan, write_json, CalibArgs, DataArgs, TapArgs};
    use crate::pipeline::{self, Backbone};

    #[derive(clap::Args, Debug)]
    pub struct Args {
        /// The int8 .tflite model.
        pub model: PathBuf,
        /// Heads file from `snap-convert fit` (or trained elsewhere).
        #[arg(long)]
        pub heads: PathBuf,
        #[command(flatten)]
        pub data: DataArgs,
        #[command(flatten)]
        pub calib: CalibArgs,
        /// Plan file to write (snapuq-plan/1 JSON), read by `snap-convert attach`.
        #[arg(short, long)]
        pub output: PathBuf,
    }

    pub fn run(args: &Args) -> Result<()> {
        let bb = Backbone::load(&args.model)?;
        crate::attach::check_writable(&args.output)?;
        let resolver = pipeline::resolver()?;
        let (calib, dev) = args.data.load(&bb, true)?;
        let dev = dev.context("no dev data")?;
        let none = TapArgs {
            taps: None,
            rank: None,
            rank_budget: 0.01,
        };
        let taps = fitted_taps(&bb, &resolver, &none, Some(&args.heads), &calib, None)?;
        let parts = pipeline::dev_parts(
            &bb,
            &resolver,
            &taps,
            &dev,
            args.calib.shifts.resolve(&bb.input),
            args.calib.config().mapping.stats(),
            args.data.pixel_range,
        )?;
        let cal = pipeline::calibrate(&taps, &bb.classifier, &parts, &args.calib.config())?;
        let op = cal.operating_point;
        println!(
            "tau = {:.6}: dev coverage {:.3}, selective risk {:.3}; AUROC U/MSP/entropy = {}",
            op.tau,
            op.coverage,
            op.selective_risk,
            cal.auroc.map_or("n/a".into(), |a| format!(
                "{:.3}/{:.3}/{:.3}",
                a.u, a.msp, a.entropy
            ))
        );
        write_json(&args.output, &make_plan(&bb, &taps, &cal))?;
        println!("wrote {}", args.output.display());
        Ok(())
    }
}

pub mod attach {
    use anyhow::Result;
    use std::path::PathBuf;

    use crate::attach::{self as att, Plan};
    use crate::pipeline::Backbone;

    #[derive(clap::Args, Debug)]
    pub struct Args {
        /// The int8 .tflite model the plan was made for.
        pub model: PathBuf,
        /// Plan file from `snap-convert calibrate`.
        #[arg(long)]
        pub plan: PathBuf,
        /// Output model (default: <name>.snap.tflite next to the input).
        #[arg(short, long)]
        pub output: Option<PathBuf>,
    }

    pub fn run(args: &Args) -> Result<()> {
        let bb = Backbone::load(&args.model)?;
        let out = args
            .output
            .clone()
            .unwrap_or_else(|| att::default_output(&args.model));
        att::check_output(&args.model, &out)?;
        let plan = Plan::read(&args.plan)?;
        let (m, a) = att::attach(&bb, &plan)?;
        att::write_atomic(&out, &m.to_bytes()?)?;
        println!(
            "wrote {} (outputs: U = {}, S = {}, abstain = {}; {} parameter bytes added)",
            out.display(),
            a.u_output,
            a.s_output,
            a.abstain_output,
            a.added_param_bytes
        );
        Ok(())
    }
}
