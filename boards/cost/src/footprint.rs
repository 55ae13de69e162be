//! Flash and static RAM of a linked firmware image, summed from its ELF section headers.
//!
//! Only allocated sections (`SHF_ALLOC`) occupy the part; debug info and symbol tables do not.
//! A section with contents (`SHT_PROGBITS`) placed in FLASH is code or read-only data; one
//! placed in RAM is initialised data (`.data`), whose initial image also sits in flash (the
//! reset handler copies it). Sections without contents (`SHT_NOBITS`: `.bss`, `.uninit`) take
//! RAM only. The arena is a zeroed static, so it is part of `.bss`.
use anyhow::{bail, Context, Result};
use object::elf::{SHF_ALLOC, SHT_NOBITS};
use object::read::elf::{ElfFile32, SectionHeader as _};
use object::{Endianness, Object, ObjectSection, ObjectSymbol, SymbolSection};
use serde::Serialize;

use crate::memory_map::MemoryMap;

/// Bytes of a firmware image by where they live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// Code and read-only data in FLASH (vector table, `.text`, `.rodata`, …).
    pub flash_code_rodata: u64,
    /// Initialised RAM data (`.data`): counted in RAM and, as its load image, in flash.
    pub data: u64,
    /// Zero-initialised / uninitialised RAM (`.bss`, `.uninit`), including the arena.
    pub bss: u64,
}

impl Footprint {
    /// Flash the image occupies: code + read-only data + the `.data` initialisers.
    pub fn flash(&self) -> u64 {
        self.flash_code_rodata + self.data
    }

    /// Static RAM: `.data` + `.bss` (the stack comes on top).
    pub fn static_ram(&self) -> u64 {
        self.data + self.bss
    }

    /// Sums the allocated sections of a 32-bit ELF image against the tier's memory map.
    pub fn from_elf(bytes: &[u8], map: &MemoryMap) -> Result<Footprint> {
        let elf = ElfFile32::<Endianness>::parse(bytes)
            .context("not a 32-bit ELF image (the firmware is linked for thumbv7em)")?;
        let endian = elf.endian();
        let mut fp = Footprint::default();
        for section in elf.sections() {
            let header = section.elf_section_header();
            let flags = header.sh_flags(endian);
            let size = u64::from(header.sh_size(endian));
            if flags & SHF_ALLOC == 0 || size == 0 {
                continue;
            }
            let addr = section.address();
            let name = section.name().unwrap_or("?");
            let nobits = header.sh_type(endian) == SHT_NOBITS;
            if map.ram.contains(addr, size) {
                if nobits {
                    fp.bss += size;
                } else {
                    fp.data += size;
                }
            } else if map.flash.contains(addr, size) && !nobits {
                fp.flash_code_rodata += size;
            } else {
                bail!(
                    "section {name} ({size} bytes at {addr:#010x}) lies in neither FLASH \
                     ({:#x}+{:#x}) nor RAM ({:#x}+{:#x}) of the tier's memory map",
                    map.flash.origin,
                    map.flash.length,
                    map.ram.origin,
                    map.ram.length
                );
            }
        }
        Ok(fp)
    }
}

/// True for a (legacy-mangled) symbol of the SNAP kernels: `snapuq_ops::*` and the
/// executor's glue `snapuq_exec::snap::*`, including their trait impls.
pub fn is_snap_symbol(name: &str) -> bool {
    [
        "10snapuq_ops",
        "snapuq_ops..",
        "11snapuq_exec4snap",
        "snapuq_exec..snap..",
    ]
    .iter()
    .any(|p| name.contains(p))
}

/// Bytes of the SNAP kernels' code and constants in a linked image: the sizes of the defined
/// symbols [`is_snap_symbol`] accepts (each address once). With fat LTO, code inlined into
/// these functions counts; SNAP code inlined into other functions would not.
pub fn snap_symbol_bytes(bytes: &[u8]) -> Result<u64> {
    let elf = ElfFile32::<Endianness>::parse(bytes)
        .context("not a 32-bit ELF image (the firmware is linked for thumbv7em)")?;
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0;
    for sym in elf.symbols() {
        if !matches!(sym.section(), SymbolSection::Section(_)) || sym.size() == 0 {
            continue;
        }
        let Ok(name) = sym.name() else {
            continue;
        };
        // Thumb function addresses carry bit 0.
        if is_snap_symbol(name) && seen.insert(sym.address() & !1) {
            total += sym.size();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_map::Region;
    use object::build::elf::{Builder, SectionData};
    use object::elf::{SHF_EXECINSTR, SHF_WRITE, SHT_PROGBITS};

    const MAP: MemoryMap = MemoryMap {
        flash: Region {
            origin: 0,
            length: 4096,
        },
        ram: Region {
            origin: 0x2000_0000,
            length: 1024,
        },
    };

    /// (name, type, flags, address, size); `size` bytes of data for PROGBITS.
    type Spec = (&'static str, u32, u32, u64, usize);

    fn tiny_elf(sections: &[Spec]) -> Vec<u8> {
        tiny_elf_with_symbols(sections, &[])
    }

    /// Also defines `(name, address, size)` function symbols in the first section.
    fn tiny_elf_with_symbols(sections: &[Spec], symbols: &[(&str, u64, u64)]) -> Vec<u8> {
        let mut b = Builder::new(Endianness::Little, false);
        b.header.e_type = object::elf::ET_EXEC;
        b.header.e_machine = object::elf::EM_ARM;
        let mut offset = 0x1000u64;
        let shstrtab = b.sections.add();
        shstrtab.name = b".shstrtab".to_vec().into();
        shstrtab.sh_type = object::elf::SHT_STRTAB;
        shstrtab.data = SectionData::SectionString;
        for &(name, ty, flags, addr, size) in sections {
            let s = b.sections.add();
            s.name = name.as_bytes().to_vec().into();
            s.sh_type = ty;
            s.sh_flags = u64::from(flags);
            s.sh_addr = addr;
            s.sh_addralign = 4;
            s.sh_offset = offset;
            s.sh_size = size as u64;
            s.data = if ty == SHT_NOBITS {
                SectionData::UninitializedData(size as u64)
            } else {
                SectionData::Data(vec![0xA5u8; size].into())
            };
            if ty != SHT_NOBITS {
                offset += (size as u64).div_ceil(0x100) * 0x100 + 0x100;
            }
        }
        if !symbols.is_empty() {
            let first = b.sections.iter().nth(1).map(|s| s.id());
            for &(name, addr, size) in symbols {
                let sym = b.symbols.add();
                sym.name = name.as_bytes().to_vec().into();
                sym.section = first;
                sym.st_info = (object::elf::STB_GLOBAL << 4) | object::elf::STT_FUNC;
                sym.st_value = addr;
                sym.st_size = size;
            }
            let strtab = b.sections.add();
            strtab.name = b".strtab".to_vec().into();
            strtab.sh_type = object::elf::SHT_STRTAB;
            strtab.data = SectionData::String;
            let symtab = b.sections.add();
            symtab.name = b".symtab".to_vec().into();
            symtab.sh_type = object::elf::SHT_SYMTAB;
            symtab.data = SectionData::Symbol;
            let strtab_id = b
                .sections
                .iter()
                .find(|s| &*s.name == b".strtab")
                .map(|s| s.id());
            if let Some(symtab) = b.sections.iter_mut().find(|s| &*s.name == b".symtab") {
                symtab.sh_link_section = strtab_id;
            }
        }
        let mut out = Vec::new();
        b.write(&mut out).expect("the builder writes the ELF");
        out
    }

    #[test]
    fn sums_flash_and_static_ram_by_region() {
        let elf = tiny_elf(&[
            (".vector_table", SHT_PROGBITS, SHF_ALLOC, 0, 64),
            (".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 64, 1000),
            (".rodata", SHT_PROGBITS, SHF_ALLOC, 1064, 300),
            (
                ".data",
                SHT_PROGBITS,
                SHF_ALLOC | SHF_WRITE,
                0x2000_0000,
                12,
            ),
            (".bss", SHT_NOBITS, SHF_ALLOC | SHF_WRITE, 0x2000_0010, 500),
            (
                ".uninit",
                SHT_NOBITS,
                SHF_ALLOC | SHF_WRITE,
                0x2000_0210,
                20,
            ),
            (".debug_info", SHT_PROGBITS, 0, 0, 777),
        ]);
        let fp = Footprint::from_elf(&elf, &MAP).unwrap();
        assert_eq!(fp.flash_code_rodata, 64 + 1000 + 300);
        assert_eq!(fp.data, 12);
        assert_eq!(fp.bss, 520);
        assert_eq!(fp.flash(), 64 + 1000 + 300 + 12);
        assert_eq!(fp.static_ram(), 532);
    }

    #[test]
    fn a_section_outside_the_map_is_an_error() {
        let elf = tiny_elf(&[(".text", SHT_PROGBITS, SHF_ALLOC, 0x1000_0000, 16)]);
        let err = Footprint::from_elf(&elf, &MAP).unwrap_err().to_string();
        assert!(err.contains(".text"), "{err}");
    }

    #[test]
    fn snap_symbols_are_summed_once_per_address() {
        let elf = tiny_elf_with_symbols(
            &[(".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 0, 1024)],
            &[
                ("_ZN10snapuq_ops9surprisal4eval17h0123456789abcdefE", 0x11, 100),
                ("_ZN11snapuq_exec4snap8register17h0123456789abcdefE", 0x81, 20),
                ("_ZN91_$LT$snapuq_exec..snap..SnapProject$u20$as$u20$snapuq_exec..resolver..CustomKernel$GT$4eval17h0123456789abcdefE", 0x101, 30),
                // An alias of the first function: counted once.
                ("_ZN10snapuq_ops9surprisal5alias17h0123456789abcdefE", 0x10, 100),
                ("_ZN11snapuq_exec7kernels4conv4eval17h0123456789abcdefE", 0x201, 400),
            ],
        );
        assert_eq!(snap_symbol_bytes(&elf).unwrap(), 150);
        assert!(!is_snap_symbol(
            "_ZN14snapuq_runner3run17h0123456789abcdefE"
        ));
    }

    #[test]
    fn not_an_elf_is_an_error() {
        assert!(Footprint::from_elf(b"hello", &MAP).is_err());
    }
}
