//! Budgeted-abstention controller (paper App. K): adapts the threshold τ so the long-run
//! abstention rate stays near a budget b. The state is a few bytes the caller keeps in a
//! persistent buffer (TFLM: AllocatePersistentBuffer in init, [`ControllerState::reset`] in
//! init and in the op's `reset`).
//!
//! Per sample t (in batch order): `A_t = [U_t ≥ τ_t]`, `Ā_t = η·A_t + (1−η)·Ā_{t−1}`,
//! `τ_{t+1} = clamp(τ_t + κ·(Ā_t − b), τ_min, τ_max)`, with `Ā_0 = 0`, `τ_0` = option `tau`.

/// Controller parameters (options `budget`, `eta`, `kappa`, `tau_min`, `tau_max`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ControllerParams {
    /// Abstention budget b in (0,1).
    pub budget: f32,
    /// EWMA weight η in (0,1].
    pub eta: f32,
    /// Step κ > 0.
    pub kappa: f32,
    /// Bounds of τ.
    pub tau_min: f32,
    pub tau_max: f32,
}

impl ControllerParams {
    /// `Some(key, problem)` when a parameter is out of range.
    pub fn check(&self) -> Option<(&'static str, &'static str)> {
        if !(self.budget > 0.0 && self.budget < 1.0) {
            return Some(("budget", "must be in (0,1)"));
        }
        if !(self.eta > 0.0 && self.eta <= 1.0) {
            return Some(("eta", "must be in (0,1]"));
        }
        if !(self.kappa > 0.0 && self.kappa.is_finite()) {
            return Some(("kappa", "must be positive and finite"));
        }
        if !(self.tau_min.is_finite() && self.tau_max.is_finite() && self.tau_min <= self.tau_max) {
            return Some(("tau_min", "tau_min <= tau_max must hold (both finite)"));
        }
        None
    }
}

/// Persistent controller state (12 bytes, `#[repr(C)]` so C firmware may inspect it).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ControllerState {
    /// Current threshold τ_t.
    pub tau: f32,
    /// EWMA of abstentions Ā_t.
    pub abar: f32,
    /// Samples seen since the last reset (saturating).
    pub steps: u32,
}

impl ControllerState {
    /// Fresh state with τ_0 = `tau0` clamped to the bounds.
    pub fn new(tau0: f32, p: &ControllerParams) -> Self {
        ControllerState {
            tau: crate::quant::clamp_f32(tau0, p.tau_min, p.tau_max),
            abar: 0.0,
            steps: 0,
        }
    }

    /// Back to the initial state (TFLM `reset`).
    pub fn reset(&mut self, tau0: f32, p: &ControllerParams) {
        *self = Self::new(tau0, p);
    }

    /// Decides one sample: returns the abstain flag under the current τ, then updates τ.
    pub fn step(&mut self, u: f32, p: &ControllerParams) -> bool {
        let abstain = u >= self.tau;
        let a = if abstain { 1.0 } else { 0.0 };
        self.abar = p.eta * a + (1.0 - p.eta) * self.abar;
        let next = self.tau + p.kappa * (self.abar - p.budget);
        // A NaN U/τ never reaches here from validated options, but keep τ finite regardless.
        self.tau = if next.is_finite() {
            crate::quant::clamp_f32(next, p.tau_min, p.tau_max)
        } else {
            p.tau_max
        };
        self.steps = self.steps.saturating_add(1);
        abstain
    }
}

/// Bytes of persistent state.
pub const STATE_BYTES: usize = core::mem::size_of::<ControllerState>();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_caps_long_run_abstention_near_budget() {
        let p = ControllerParams {
            budget: 0.1,
            eta: 0.02,
            kappa: 0.05,
            tau_min: 0.0,
            tau_max: 1.0,
        };
        let mut s = ControllerState::new(0.2, &p);
        // U uniform-ish in [0,1) by a fixed LCG: a fixed τ = 0.2 would abstain 80%.
        let mut x: u32 = 12345;
        let mut abstained = 0u32;
        let n = 20000u32;
        for t in 0..n {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let u = (x >> 8) as f32 / (1u32 << 24) as f32;
            if s.step(u, &p) && t >= n / 2 {
                abstained += 1;
            }
        }
        let rate = abstained as f32 / (n / 2) as f32;
        assert!((rate - 0.1).abs() < 0.03, "long-run abstention {rate}");
        assert!(s.tau > 0.8 && s.tau < 0.97, "tau {}", s.tau);
        s.reset(0.2, &p);
        assert_eq!(s, ControllerState::new(0.2, &p));
        assert_eq!(STATE_BYTES, 12);
    }
}
