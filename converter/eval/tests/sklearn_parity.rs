//! AUROC and AUPRC agree with scikit-learn (`roc_auc_score`, `average_precision_score`) on
//! random data with many ties. Needs a Python with scikit-learn; skips with a message when
//! there is none (scikit-learn is only installed by `.ci/setup-python --with-model`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use snapuq_eval::metrics::{auprc, auroc};
use std::io::Write;
use std::process::{Command, Stdio};

const SCRIPT: &str = r#"
import sys
from sklearn.metrics import roc_auc_score, average_precision_score
for line in sys.stdin:
    s, y = line.split('|')
    s = [float(v) for v in s.split()]
    y = [int(v) for v in y.split()]
    print(repr(roc_auc_score(y, s)), repr(average_precision_score(y, s)))
"#;

fn python_with_sklearn() -> Option<std::path::PathBuf> {
    let py = snapuq_testkit::oracle_python()?;
    let ok = Command::new(&py)
        .args(["-c", "import sklearn"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Some(py)
    } else {
        eprintln!("SKIPPED: {} cannot import scikit-learn", py.display());
        None
    }
}

#[test]
fn ranking_metrics_match_sklearn() {
    let Some(py) = python_with_sklearn() else {
        return;
    };
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut cases = Vec::new();
    for k in 0..20 {
        let n = 20 + 37 * k;
        // Coarse rounding creates many ties; positives are shifted upward so AUROC varies.
        let levels = 3 + k;
        let y: Vec<bool> = (0..n)
            .map(|i| i == 0 || (i != 1 && rng.gen_bool(0.3)))
            .collect();
        let s: Vec<f64> = y
            .iter()
            .map(|&p| {
                let v: f64 = rng.gen::<f64>() + if p { 0.3 } else { 0.0 };
                (v * levels as f64).round() / levels as f64
            })
            .collect();
        cases.push((s, y));
    }
    let mut child = Command::new(&py)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python");
    {
        let stdin = child.stdin.as_mut().expect("stdin");
        for (s, y) in &cases {
            let s: Vec<String> = s.iter().map(|v| format!("{v:?}")).collect();
            let y: Vec<&str> = y.iter().map(|&b| if b { "1" } else { "0" }).collect();
            writeln!(stdin, "{}|{}", s.join(" "), y.join(" ")).expect("write");
        }
    }
    let out = child.wait_with_output().expect("python output");
    assert!(out.status.success(), "python failed");
    let text = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), cases.len());
    for ((s, y), line) in cases.iter().zip(lines) {
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|t| t.parse().expect("float"))
            .collect();
        let (a, p) = (auroc(s, y).unwrap(), auprc(s, y).unwrap());
        assert!((a - v[0]).abs() < 1e-9, "AUROC {a} vs sklearn {}", v[0]);
        assert!((p - v[1]).abs() < 1e-9, "AP {p} vs sklearn {}", v[1]);
    }
}
