//! The fuzz target's entry point (`snapuq_model::fuzzing::parse_model`) over thousands of
//! deterministic mutations of real models, so the no-panic property is tested on stable
//! without cargo-fuzz.
mod common;

use snapuq_model::fuzzing::parse_model;

/// SplitMix64: reproducible mutation choices without a RNG dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = b.len().max(1);
        match rng.below(6) {
            0 => {
                let i = rng.below(len);
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << rng.below(8);
                }
            }
            1 => {
                let i = rng.below(len);
                if let Some(x) = b.get_mut(i) {
                    *x = rng.next() as u8;
                }
            }
            2 => {
                // Overwrite a 32-bit word: offsets, lengths and indices live in these.
                let i = rng.below(len) & !3;
                let v = match rng.below(4) {
                    0 => 0u32,
                    1 => u32::MAX,
                    2 => rng.next() as u32 % 64,
                    _ => rng.next() as u32,
                };
                if i + 4 <= b.len() {
                    b[i..i + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            3 => b.truncate(rng.below(len)),
            4 => {
                let i = rng.below(len);
                let n = rng.below(16);
                b.splice(i..i, std::iter::repeat_n(0xAB, n));
            }
            _ => {
                let i = rng.below(len);
                let j = (i + rng.below(32)).min(b.len());
                b.drain(i..j);
            }
        }
    }
    b
}

fn run(seed: &[u8], n: usize, salt: u64) {
    // The unmutated seed must pass all of parse_model's properties.
    assert!(parse_model(seed));
    let mut rng = Rng(salt);
    let parsed = (0..n)
        .filter(|_| parse_model(&mutate(seed, &mut rng)))
        .count();
    // Many mutations must get past the parser, or the deeper code is not being exercised.
    assert!(parsed * 20 >= n, "only {parsed} of {n} mutations parsed");
    eprintln!("{parsed} of {n} mutations parsed");
}

#[test]
fn tiny_model_mutations_never_panic() {
    run(&common::tiny_bytes(), 3000, 1);
}

#[test]
fn real_model_mutations_never_panic() {
    let Some(path) = snapuq_testkit::shared_file("models/kws_ref_model.tflite") else {
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    run(&bytes, 2000, 2);
}
