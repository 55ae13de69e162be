//! Turns a failed firmware build into the linker's verdict ("does not fit: RAM overflow by N
//! bytes"), so a cell that does not fit the tier is a result of the table, not a crash.
use std::collections::BTreeMap;

/// Why a firmware build failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildFailure {
    /// The image does not fit the tier: overflow per region (largest overflow reported by the
    /// linker for that region, i.e. its total), and/or the board's stack-reserve assertion.
    DoesNotFit {
        overflow: BTreeMap<String, u64>,
        stack_reserve: Option<String>,
    },
    /// Anything else (a compile error, a build script refusing the model, …): its first
    /// `error` line.
    Other(String),
}

impl BuildFailure {
    /// Classifies cargo's stderr of a failed build.
    pub fn from_stderr(stderr: &str) -> BuildFailure {
        let mut overflow = BTreeMap::new();
        let mut stack_reserve = None;
        for line in stderr.lines() {
            if let Some((region, bytes)) = overflow_line(line) {
                let e = overflow.entry(region).or_insert(0);
                *e = (*e).max(bytes);
            }
            if let Some(i) = line.find("ERROR(snapuq-board):") {
                let msg = line[i + "ERROR(snapuq-board):".len()..].trim();
                stack_reserve = Some(msg.trim_end_matches('"').trim().to_string());
            }
        }
        // The board's assertion text may sit on the line after the `ASSERT` marker.
        if stack_reserve.is_none() && stderr.contains("ERROR(snapuq-board)") {
            stack_reserve = Some("static RAM leaves less than the tier's stack reserve".into());
        }
        if !overflow.is_empty() || stack_reserve.is_some() {
            return BuildFailure::DoesNotFit {
                overflow,
                stack_reserve,
            };
        }
        let first = stderr
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("error"))
            .unwrap_or("cargo failed without an error line")
            .to_string();
        BuildFailure::Other(first)
    }

    /// The short text printed in the table cell.
    pub fn cell(&self) -> String {
        match self {
            BuildFailure::DoesNotFit {
                overflow,
                stack_reserve,
            } => {
                let mut parts: Vec<String> = overflow
                    .iter()
                    .map(|(r, n)| format!("{r} overflow by {n} bytes"))
                    .collect();
                if let Some(s) = stack_reserve {
                    parts.push(s.clone());
                }
                format!("does not fit: {}", parts.join(", "))
            }
            BuildFailure::Other(e) => format!("build failed: {e}"),
        }
    }
}

/// `rust-lld: error: section '.bss' will not fit in region 'RAM': overflowed by 2312 bytes`
/// → ("RAM", 2312).
fn overflow_line(line: &str) -> Option<(String, u64)> {
    let rest = &line[line.find("will not fit in region '")? + "will not fit in region '".len()..];
    let (region, rest) = rest.split_once('\'')?;
    let n = rest.split("overflowed by ").nth(1)?;
    let n: u64 = n.split_whitespace().next()?.parse().ok()?;
    Some((region.to_string(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_overflow_takes_the_largest_of_the_region() {
        let stderr = "   Compiling snapuq-runner v0.1.0\nerror: linking with `rust-lld` failed: exit status: 1\n\
          rust-lld: error: section '.data' will not fit in region 'FLASH': overflowed by 2312 bytes\n\
          rust-lld: error: section '.gnu.sgstubs' will not fit in region 'FLASH': overflowed by 2336 bytes\n";
        let f = BuildFailure::from_stderr(stderr);
        assert_eq!(f.cell(), "does not fit: FLASH overflow by 2336 bytes");
    }

    #[test]
    fn ram_and_flash_both_reported() {
        let stderr = "rust-lld: error: section '.bss' will not fit in region 'RAM': overflowed by 100 bytes\n\
          rust-lld: error: section '.text' will not fit in region 'FLASH': overflowed by 7 bytes\n";
        assert_eq!(
            BuildFailure::from_stderr(stderr).cell(),
            "does not fit: FLASH overflow by 7 bytes, RAM overflow by 100 bytes"
        );
    }

    #[test]
    fn stack_reserve_assertion() {
        let stderr = "rust-lld: error: \nERROR(snapuq-board): static RAM leaves less than the 6 KB stack reserve of the Small-MCU tier (64 KB SRAM)\n";
        let cell = BuildFailure::from_stderr(stderr).cell();
        assert!(
            cell.starts_with("does not fit: static RAM leaves less than the 6 KB"),
            "{cell}"
        );
    }

    #[test]
    fn other_errors_are_not_called_overflow() {
        let f = BuildFailure::from_stderr("warning: x\nerror[E0432]: unresolved import `foo`\n");
        assert_eq!(
            f,
            BuildFailure::Other("error[E0432]: unresolved import `foo`".into())
        );
        assert!(f.cell().starts_with("build failed:"));
    }
}
