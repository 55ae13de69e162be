//! A fingerprint of the sources the firmware is built from, so a flash delta is never taken
//! between two builds of different code (other people may edit the runner or the kernels while
//! the table runs).
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

/// Folders (relative to the repository) whose files go into the runner firmware.
pub const FIRMWARE_SOURCES: [&str; 7] = [
    "examples/firmware",
    "boards/common",
    "boards/stm32f767zi",
    "boards/stm32l432kc",
    "ops",
    "cmsis",
    "converter/exec",
];

/// Also read by the runner's build (the flatbuffer schema code).
const EXTRA_SOURCES: [&str; 1] = ["converter/schema"];

/// Hash of the path and contents of every file under the firmware's source folders (build
/// outputs excluded). Equal fingerprints mean the same code was compiled.
pub fn fingerprint(repo: &Path) -> u64 {
    let mut h = DefaultHasher::new();
    for dir in FIRMWARE_SOURCES.iter().chain(&EXTRA_SOURCES) {
        hash_dir(&repo.join(dir), &mut h);
    }
    h.finish()
}

fn hash_dir(dir: &Path, h: &mut DefaultHasher) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        if matches!(name.as_deref(), Some("target") | Some(".git")) {
            continue;
        }
        if p.is_dir() {
            hash_dir(&p, h);
        } else if let Ok(bytes) = std::fs::read(&p) {
            p.hash(h);
            bytes.hash(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_when_a_source_file_changes() {
        let root = std::env::temp_dir().join(format!("snapuq-cost-src-{}", std::process::id()));
        let src = root.join("ops").join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(root.join("examples/firmware/target")).unwrap();
        std::fs::write(src.join("lib.rs"), "fn a() {}").unwrap();
        let a = fingerprint(&root);
        assert_eq!(a, fingerprint(&root));
        // Build outputs do not count.
        std::fs::write(root.join("examples/firmware/target/x"), "out").unwrap();
        assert_eq!(a, fingerprint(&root));
        std::fs::write(src.join("lib.rs"), "fn b() {}").unwrap();
        assert_ne!(a, fingerprint(&root));
        let _ = std::fs::remove_dir_all(&root);
    }
}
