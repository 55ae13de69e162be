//! `snap-convert`: give an int8 TFLite Micro model a SNAP-UQ uncertainty output.
//!
//! One module per subcommand; each exposes `Args` (clap) and `run(&Args) -> anyhow::Result<()>`.
//! Errors print as one line on stderr with a non-zero exit.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

use snap_convert::{convert, eval, inspect, run, steps};

/// Subcommand names; any other first argument means the bare `snap-convert model.tflite …`
/// form, which runs `convert`.
const SUBCOMMANDS: [&str; 9] = [
    "inspect",
    "convert",
    "taps",
    "fit",
    "calibrate",
    "attach",
    "run",
    "eval",
    "help",
];

#[derive(Parser, Debug)]
#[command(name = "snap-convert", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a model's operators, tensors, MACs, parameter bytes and candidate tap points.
    Inspect(inspect::Args),
    /// The whole pipeline (also the default: `snap-convert model.tflite --calib … --dev …`).
    Convert(convert::Args),
    /// List tap candidates and the taps/ranks the converter would choose.
    Taps(steps::taps::Args),
    /// Fit the SNAP heads on calibration data and write a heads JSON file.
    Fit(steps::fit::Args),
    /// Quantize heads, fit the calibrator and τ on dev data, write a plan JSON file.
    Calibrate(steps::calibrate::Args),
    /// Attach the SNAP ops of a plan to the model.
    Attach(steps::attach::Args),
    /// Run any model (augmented or not) on the host with the SNAP ops and print/save outputs.
    Run(run::Args),
    /// Evaluate U against single-pass baselines on labeled data (ID, corrupted ID, OOD stand-in, streams).
    Eval(eval::Args),
}

fn main() -> ExitCode {
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(first) = argv.get(1).and_then(|a| a.to_str()) {
        let is_global_flag = matches!(first, "-h" | "--help" | "-V" | "--version");
        if !SUBCOMMANDS.contains(&first) && !is_global_flag {
            argv.insert(1, "convert".into());
        }
    }
    let cli = Cli::parse_from(argv);
    let result = match &cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Taps(args) => steps::taps::run(args),
        Command::Fit(args) => steps::fit::run(args),
        Command::Calibrate(args) => steps::calibrate::run(args),
        Command::Attach(args) => steps::attach::run(args),
        Command::Run(args) => run::run(args),
        Command::Eval(args) => eval::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` joins the context chain on one line.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
