//! The FLASH and RAM regions of a tier, read from the board crate's linker script, so the cost
//! table classifies sections with exactly the limits the link was checked against.
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::path::Path;

/// One `MEMORY` region: start address and length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Region {
    pub origin: u64,
    pub length: u64,
}

impl Region {
    /// True when `[addr, addr + size)` lies inside the region.
    pub fn contains(&self, addr: u64, size: u64) -> bool {
        addr >= self.origin && addr.saturating_add(size) <= self.origin + self.length
    }
}

/// The two regions every tier's `memory.x` declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryMap {
    pub flash: Region,
    pub ram: Region,
}

impl MemoryMap {
    /// Reads a `memory.x` file.
    pub fn from_file(path: &Path) -> Result<MemoryMap> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the tier's linker script {}", path.display()))?;
        MemoryMap::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses the `FLASH : ORIGIN = …, LENGTH = …` and `RAM : …` lines of a `MEMORY` block.
    pub fn parse(text: &str) -> Result<MemoryMap> {
        let mut flash = None;
        let mut ram = None;
        for line in text.lines() {
            let Some((name, rest)) = line.split_once(':') else {
                continue;
            };
            let slot = match name.trim() {
                "FLASH" => &mut flash,
                "RAM" => &mut ram,
                _ => continue,
            };
            *slot = Some(parse_region(rest).with_context(|| format!("line `{}`", line.trim()))?);
        }
        match (flash, ram) {
            (Some(flash), Some(ram)) => Ok(MemoryMap { flash, ram }),
            _ => bail!("the MEMORY block must declare both FLASH and RAM regions"),
        }
    }
}

/// `ORIGIN = 0x20000000, LENGTH = 64K` → region.
fn parse_region(s: &str) -> Result<Region> {
    let mut origin = None;
    let mut length = None;
    for part in s.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let v = parse_number(v.trim())?;
        match k.trim() {
            "ORIGIN" | "org" | "o" => origin = Some(v),
            "LENGTH" | "len" | "l" => length = Some(v),
            other => bail!("unknown region attribute {other}"),
        }
    }
    Ok(Region {
        origin: origin.ok_or_else(|| anyhow!("no ORIGIN"))?,
        length: length.ok_or_else(|| anyhow!("no LENGTH"))?,
    })
}

/// A linker-script number: decimal or 0x hex, optionally with a K or M suffix.
fn parse_number(s: &str) -> Result<u64> {
    let (digits, scale) = match s.strip_suffix(['K', 'k']) {
        Some(d) => (d, 1024),
        None => match s.strip_suffix(['M', 'm']) {
            Some(d) => (d, 1024 * 1024),
            None => (s, 1),
        },
    };
    let v = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(h) => u64::from_str_radix(&h.replace('_', ""), 16),
        None => digits.replace('_', "").parse(),
    }
    .map_err(|_| anyhow!("`{s}` is not a linker-script number"))?;
    Ok(v * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_board_memory_block() {
        let m = MemoryMap::parse(
            "/* comment: with a colon */\nMEMORY\n{\n  FLASH : ORIGIN = 0x00000000, LENGTH = 256K\n  RAM   : ORIGIN = 0x20000000, LENGTH = 64K\n}\n_min_stack = 6K;\n",
        )
        .unwrap();
        assert_eq!(
            m.flash,
            Region {
                origin: 0,
                length: 256 * 1024
            }
        );
        assert_eq!(
            m.ram,
            Region {
                origin: 0x2000_0000,
                length: 64 * 1024
            }
        );
        assert!(m.ram.contains(0x2000_0000, 64 * 1024));
        assert!(!m.ram.contains(0x2000_0000, 64 * 1024 + 1));
        assert!(!m.flash.contains(0x2000_0000, 4));
    }

    #[test]
    fn numbers_with_suffixes() {
        assert_eq!(parse_number("2M").unwrap(), 2 << 20);
        assert_eq!(parse_number("0x0800_0000").unwrap(), 0x0800_0000);
        assert_eq!(parse_number("512").unwrap(), 512);
        assert!(parse_number("lots").is_err());
    }

    #[test]
    fn missing_ram_is_an_error() {
        assert!(MemoryMap::parse("FLASH : ORIGIN = 0, LENGTH = 1K").is_err());
    }

    #[test]
    fn reads_the_real_tier_scripts() {
        let boards = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let small = MemoryMap::from_file(&boards.join("stm32l432kc/memory-qemu.x")).unwrap();
        assert_eq!(small.flash.length, 256 * 1024);
        assert_eq!(small.ram.length, 64 * 1024);
        let big = MemoryMap::from_file(&boards.join("stm32f767zi/memory-qemu.x")).unwrap();
        assert_eq!(big.flash.length, 2048 * 1024);
        assert_eq!(big.ram.length, 512 * 1024);
    }
}
