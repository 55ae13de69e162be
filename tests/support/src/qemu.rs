//! Booting a firmware ELF in QEMU the way every firmware test and the cost table do: the MPS2
//! machine of a tier, semihosting console and exit, `-icount shift=0` (deterministic
//! instruction counts), stdout captured, and a wall-clock limit that only catches hangs.
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What one QEMU run produced.
#[derive(Debug)]
pub struct QemuRun {
    /// Exit status (semihosting `SYS_EXIT`: 0 when the firmware reported success).
    pub status: ExitStatus,
    /// Everything the firmware printed.
    pub stdout: String,
    /// QEMU's own messages (usually empty).
    pub stderr: String,
}

/// Boots `elf` on `qemu-system-arm -M machine`. Errors when QEMU cannot start or the firmware
/// runs past `timeout` (the message carries the output so far).
pub fn run_firmware(machine: &str, elf: &Path, timeout: Duration) -> Result<QemuRun, String> {
    let mut child = Command::new("qemu-system-arm")
        .args(["-M", machine, "-nographic", "-monitor", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-icount", "shift=0", "-kernel"])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot start qemu-system-arm ({e}); Debian: apt-get install qemu-system-arm")
        })?;
    let mut stdout = child.stdout.take().ok_or("qemu stdout is not piped")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                let partial = reader.join().unwrap_or_default();
                return Err(format!(
                    "{} did not exit within {timeout:?}; output so far:\n{partial}",
                    elf.display()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for qemu failed: {e}")),
        }
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let stdout = reader.join().unwrap_or_default();
    Ok(QemuRun {
        status,
        stdout,
        stderr,
    })
}
