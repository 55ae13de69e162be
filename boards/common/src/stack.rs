//! Stack high-water mark.
//!
//! cortex-m-rt's `paint-stack` feature fills everything between `_stack_end` (the end of
//! .bss/.uninit) and `_stack_start` (top of RAM) with 0xCCCC_CCCC before `main`. The deepest
//! word that no longer holds the paint is as far as the stack has ever grown, so
//! static RAM + this number is the RAM the program really needs.

const PAINT: u32 = 0xCCCC_CCCC;

extern "C" {
    static _stack_start: u32;
    static _stack_end: u32;
}

/// Bytes of stack used so far (a lower bound if the program wrote the paint value itself).
pub fn high_water_bytes() -> u32 {
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    let mut p = bottom;
    while p < top {
        // SAFETY: `p` is word-aligned (both linker symbols are) and lies in the RAM region
        // between the end of static data and the initial stack pointer, which is mapped.
        let w = unsafe { core::ptr::read_volatile(p as *const u32) };
        if w != PAINT {
            break;
        }
        p += 4;
    }
    (top - p) as u32
}

/// Bytes between the end of static data and the top of RAM: the most the stack may use.
pub fn reserve_bytes() -> u32 {
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    (top - bottom) as u32
}
