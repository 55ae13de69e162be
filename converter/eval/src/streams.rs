//! Streaming protocol of App. D–E: stream construction (ID → CID(s=1..5) with OOD bursts),
//! event labels from sliding-window accuracy, frame AUPRC, dev-chosen F1 threshold, detection
//! delay, miss rate and clean-ID FPR at matched recall.
//!
//! The builder works on *record indices*: the caller keeps its samples (images, MFCCs, or
//! precomputed outputs) in pools and the stream says which record goes in which frame, so the
//! same stream can be replayed through every method.

use crate::error::{check_finite, check_len, EvalError, Result};
use crate::metrics::{self, bootstrap_ci, fpr_at_recall, pr_curve, Ci, BOOTSTRAP_RESAMPLES, EPS};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Sliding-window length `m` of D.4.
pub const WINDOW: usize = 100;
/// Recall at which clean-ID FPR is matched (E.5, O.2).
pub const MATCHED_RECALL: f64 = 0.9;

/// Segment lengths of D.3 (defaults are the paper's).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StreamSpec {
    /// Leading ID segment (2000).
    pub id_len: usize,
    /// CID segment per severity (1000).
    pub cid_len: usize,
    /// OOD burst between severities (100); 0 disables bursts.
    pub ood_len: usize,
    /// Corruption type changes every this many frames (200).
    pub type_cycle: usize,
    /// Number of severities (5).
    pub severities: u8,
}

impl Default for StreamSpec {
    fn default() -> Self {
        Self {
            id_len: 2000,
            cid_len: 1000,
            ood_len: 100,
            type_cycle: 200,
            severities: 5,
        }
    }
}

/// What a frame (or segment) is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SegmentKind {
    /// Clean in-distribution.
    Id,
    /// Corrupted in-distribution.
    Cid,
    /// Out-of-distribution burst.
    Ood,
}

/// One frame of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Segment kind.
    pub kind: SegmentKind,
    /// Severity 1..=5 for CID, 0 otherwise.
    pub severity: u8,
    /// Corruption type index (into the caller's list) for CID.
    pub corruption: Option<usize>,
    /// Record index taken from the corresponding pool.
    pub record: usize,
}

/// A contiguous run of frames of one kind, `start..end` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Segment kind.
    pub kind: SegmentKind,
    /// Severity for CID, 0 otherwise.
    pub severity: u8,
    /// First frame.
    pub start: usize,
    /// One past the last frame.
    pub end: usize,
}

/// A built stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    /// Frames in time order.
    pub frames: Vec<Frame>,
    /// Segments in time order.
    pub segments: Vec<Segment>,
}

impl Stream {
    /// `true` for frames of clean ID segments (for [`clean_id_fpr`]).
    pub fn clean_id_mask(&self) -> Vec<bool> {
        self.frames
            .iter()
            .map(|f| f.kind == SegmentKind::Id)
            .collect()
    }
}

/// Record pools for [`build_stream`]. Dev and test streams must be built from disjoint pools
/// (D.3 hold-out); the builder does not know about other streams.
#[derive(Debug, Clone, Copy)]
pub struct StreamPools<'a> {
    /// Clean ID records.
    pub id: &'a [usize],
    /// CID records as `cid[severity - 1][corruption_type]`.
    pub cid: &'a [Vec<Vec<usize>>],
    /// OOD records.
    pub ood: &'a [usize],
}

/// Draws without replacement from a shuffled copy of a pool, reshuffling when exhausted, so
/// short streams do not repeat records and long ones still work with small pools.
struct PoolSampler {
    items: Vec<usize>,
    pos: usize,
}

impl PoolSampler {
    fn new(pool: &[usize], rng: &mut ChaCha8Rng) -> Self {
        let mut items = pool.to_vec();
        items.shuffle(rng);
        Self { items, pos: 0 }
    }
    fn next(&mut self, rng: &mut ChaCha8Rng) -> usize {
        if self.pos == self.items.len() {
            self.items.shuffle(rng);
            self.pos = 0;
        }
        self.pos += 1;
        self.items[self.pos - 1]
    }
}

/// Builds ID → CID(1) → OOD → CID(2) → … → CID(S) (Algorithm 3). Corruption types are cycled
/// every `type_cycle` frames; the cycle continues across severities so that all types appear
/// when a severity is shorter than `types × type_cycle`. Types with empty pools are skipped.
/// Deterministic for a given `seed`.
pub fn build_stream(pools: &StreamPools<'_>, spec: &StreamSpec, seed: u64) -> Result<Stream> {
    if spec.id_len > 0 && pools.id.is_empty() {
        return Err(EvalError::Empty("ID pool"));
    }
    if spec.ood_len > 0 && spec.severities > 1 && pools.ood.is_empty() {
        return Err(EvalError::InvalidArgument(
            "OOD pool is empty; pass OOD records or set ood_len = 0".into(),
        ));
    }
    if spec.type_cycle == 0 {
        return Err(EvalError::InvalidArgument(
            "type_cycle must be at least 1".into(),
        ));
    }
    if spec.cid_len > 0 && pools.cid.len() < spec.severities as usize {
        return Err(EvalError::InvalidArgument(format!(
            "CID pools cover {} severities but the spec asks for {}",
            pools.cid.len(),
            spec.severities
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut frames = Vec::new();
    let mut segments = Vec::new();
    let mut push_segment = |frames: &Vec<Frame>, kind, severity, start| {
        if frames.len() > start {
            segments.push(Segment {
                kind,
                severity,
                start,
                end: frames.len(),
            });
        }
    };
    let mut id = PoolSampler::new(pools.id, &mut rng);
    let start = frames.len();
    for _ in 0..spec.id_len {
        frames.push(Frame {
            kind: SegmentKind::Id,
            severity: 0,
            corruption: None,
            record: id.next(&mut rng),
        });
    }
    push_segment(&frames, SegmentKind::Id, 0, start);
    let mut ood = PoolSampler::new(pools.ood, &mut rng);
    let mut block = 0usize;
    for s in 1..=spec.severities {
        let per_type = &pools.cid[(s - 1) as usize];
        let live: Vec<usize> = (0..per_type.len())
            .filter(|&t| !per_type[t].is_empty())
            .collect();
        if spec.cid_len > 0 && live.is_empty() {
            return Err(EvalError::InvalidArgument(format!(
                "every CID pool at severity {s} is empty"
            )));
        }
        let mut samplers: Vec<PoolSampler> = per_type
            .iter()
            .map(|p| PoolSampler::new(p, &mut rng))
            .collect();
        let start = frames.len();
        for k in 0..spec.cid_len {
            if k > 0 && k % spec.type_cycle == 0 {
                block += 1;
            }
            let t = live[block % live.len()];
            frames.push(Frame {
                kind: SegmentKind::Cid,
                severity: s,
                corruption: Some(t),
                record: samplers[t].next(&mut rng),
            });
        }
        block += 1;
        push_segment(&frames, SegmentKind::Cid, s, start);
        if s < spec.severities {
            let start = frames.len();
            for _ in 0..spec.ood_len {
                frames.push(Frame {
                    kind: SegmentKind::Ood,
                    severity: 0,
                    corruption: None,
                    record: ood.next(&mut rng),
                });
            }
            push_segment(&frames, SegmentKind::Ood, 0, start);
        }
    }
    Ok(Stream { frames, segments })
}

/// Trailing sliding-window accuracy: frame `t` sees frames `t−m+1..=t`. The first `m−1`
/// frames, which have no full window, take the first full window's value (or the whole
/// stream's accuracy when it is shorter than `m`) so a single early error cannot open an event.
pub fn sliding_accuracy(correct: &[bool], m: usize) -> Result<Vec<f64>> {
    if correct.is_empty() {
        return Err(EvalError::Empty("correctness flags"));
    }
    if m == 0 {
        return Err(EvalError::InvalidArgument(
            "window must be at least 1 frame".into(),
        ));
    }
    let w = m.min(correct.len());
    let mut hits: usize = correct[..w].iter().filter(|&&c| c).count();
    let first = hits as f64 / w as f64;
    let mut out = vec![first; w];
    for t in w..correct.len() {
        hits += usize::from(correct[t]);
        hits -= usize::from(correct[t - w]);
        out.push(hits as f64 / w as f64);
    }
    Ok(out)
}

/// The ID accuracy band of D.4.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IdBand {
    /// Mean windowed accuracy on the ID-only run.
    pub mean: f64,
    /// Population standard deviation of the windowed accuracy.
    pub std: f64,
    /// Window `m`.
    pub window: usize,
}

impl IdBand {
    /// Event threshold `μ_ID − 3σ_ID`.
    pub fn threshold(&self) -> f64 {
        self.mean - 3.0 * self.std
    }
}

/// Estimates the band from a separate, long ID-only run (full windows only; needs ≥ `m` frames).
pub fn id_band(correct_id_run: &[bool], m: usize) -> Result<IdBand> {
    if m == 0 || correct_id_run.len() < m {
        return Err(EvalError::InvalidArgument(format!(
            "the ID run has {} frames but the window needs at least {m}; use a longer ID-only run",
            correct_id_run.len()
        )));
    }
    let acc = sliding_accuracy(correct_id_run, m)?;
    let full = &acc[m - 1..];
    let mean = full.iter().sum::<f64>() / full.len() as f64;
    let var = full.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / full.len() as f64;
    Ok(IdBand {
        mean,
        std: var.sqrt(),
        window: m,
    })
}

/// An event interval, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// First in-event frame.
    pub onset: usize,
    /// Last in-event frame.
    pub offset: usize,
}

impl Event {
    /// Frames covered.
    pub fn len(&self) -> usize {
        self.offset + 1 - self.onset
    }
    /// Never true (an event covers at least its onset); present for API symmetry.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Maximal runs of `true`.
pub fn events_from_labels(labels: &[bool]) -> Vec<Event> {
    let mut out = Vec::new();
    let mut start = None;
    for (t, &l) in labels.iter().enumerate() {
        match (l, start) {
            (true, None) => start = Some(t),
            (false, Some(s)) => {
                out.push(Event {
                    onset: s,
                    offset: t - 1,
                });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Event {
            onset: s,
            offset: labels.len() - 1,
        });
    }
    out
}

/// D.4 clean-up of raw below-band labels: events separated by fewer than `m` frames are merged
/// (the gap becomes in-event), then events shorter than `m` frames are dropped.
pub fn clean_event_labels(raw: &[bool], m: usize) -> Vec<bool> {
    let mut labels = raw.to_vec();
    let events = events_from_labels(raw);
    for pair in events.windows(2) {
        let gap = pair[1].onset - pair[0].offset - 1;
        if gap < m {
            labels[pair[0].offset + 1..pair[1].onset].fill(true);
        }
    }
    for e in events_from_labels(&labels) {
        if e.len() < m {
            labels[e.onset..=e.offset].fill(false);
        }
    }
    labels
}

/// Frame event labels (E.1 `y_t`): windowed accuracy below `band.threshold()`, cleaned by
/// [`clean_event_labels`] with the band's window.
pub fn event_labels(correct: &[bool], band: &IdBand) -> Result<Vec<bool>> {
    let acc = sliding_accuracy(correct, band.window)?;
    let thr = band.threshold();
    let raw: Vec<bool> = acc.iter().map(|&a| a < thr).collect();
    Ok(clean_event_labels(&raw, band.window))
}

/// Per-frame weights for the event-weighted PR of F.7: every event and the background each
/// carry total mass `1/(K+1)`, spread uniformly within the region; weights sum to one.
pub fn event_weights(labels: &[bool]) -> Vec<f64> {
    let events = events_from_labels(labels);
    let regions = events.len() + 1;
    let background = labels.iter().filter(|&&l| !l).count();
    let mut w = vec![0.0; labels.len()];
    for e in &events {
        let share = 1.0 / (regions as f64 * e.len() as f64);
        w[e.onset..=e.offset].fill(share);
    }
    if background > 0 {
        let share = 1.0 / (regions as f64 * background as f64);
        for (wi, &l) in w.iter_mut().zip(labels) {
            if !l {
                *wi = share;
            }
        }
    }
    let total: f64 = w.iter().sum();
    if total > 0.0 {
        w.iter_mut().for_each(|x| *x /= total);
    }
    w
}

/// The F1-maximizing operating point of E.3.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct F1Threshold {
    /// Alarm when `score >= threshold`.
    pub threshold: f64,
    /// Frame F1 at the threshold.
    pub f1: f64,
    /// Frame precision.
    pub precision: f64,
    /// Frame recall (the "dev operating recall" of E.3).
    pub recall: f64,
}

/// Picks `τ*` over the unique scores maximizing frame F1 (eq. 16); among equal F1 the highest
/// threshold wins.
pub fn f1_threshold(scores: &[f64], labels: &[bool]) -> Result<F1Threshold> {
    let pts = pr_curve(scores, labels, None)?;
    let mut best: Option<F1Threshold> = None;
    for p in pts {
        let f1 = 2.0 * p.precision * p.recall / (p.precision + p.recall + EPS);
        if best.is_none_or(|b| f1 > b.f1) {
            best = Some(F1Threshold {
                threshold: p.threshold,
                f1,
                precision: p.precision,
                recall: p.recall,
            });
        }
    }
    best.ok_or(EvalError::Empty("scores"))
}

/// Detection delays of E.4 at a frozen threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelayStats {
    /// Per event: frames from onset to the first crossing inside the event, `None` if missed
    /// (including censoring at the end of the stream).
    pub delays: Vec<Option<usize>>,
    /// Median over detected events (`None` when none was detected).
    pub median: Option<f64>,
    /// Fraction of missed events (0 when there are no events).
    pub miss_rate: f64,
}

/// Algorithm 4: first `t` in `[onset, offset]` with `s_t >= τ`; earlier crossings are ignored.
pub fn detection_delays(events: &[Event], scores: &[f64], threshold: f64) -> Result<DelayStats> {
    check_finite("scores", scores)?;
    if let Some(e) = events
        .iter()
        .find(|e| e.offset >= scores.len() || e.onset > e.offset)
    {
        return Err(EvalError::InvalidArgument(format!(
            "event {e:?} does not fit a stream of {} frames",
            scores.len()
        )));
    }
    let delays: Vec<Option<usize>> = events
        .iter()
        .map(|e| {
            (e.onset..=e.offset)
                .find(|&t| scores[t] >= threshold)
                .map(|t| t - e.onset)
        })
        .collect();
    let miss_rate = if delays.is_empty() {
        0.0
    } else {
        delays.iter().filter(|d| d.is_none()).count() as f64 / delays.len() as f64
    };
    Ok(DelayStats {
        median: median_of_detected(&delays),
        delays,
        miss_rate,
    })
}

fn median_of_detected(delays: &[Option<usize>]) -> Option<f64> {
    let mut d: Vec<usize> = delays.iter().flatten().copied().collect();
    if d.is_empty() {
        return None;
    }
    d.sort_unstable();
    let n = d.len();
    Some(if n % 2 == 1 {
        d[n / 2] as f64
    } else {
        (d[n / 2 - 1] + d[n / 2]) as f64 / 2.0
    })
}

/// Bootstrap CI of the median delay, resampling events (misses included, so resamples with no
/// detection are skipped) as E.4 / D.5 specify.
pub fn median_delay_ci(delays: &[Option<usize>], seed: u64) -> Result<Ci> {
    bootstrap_ci(delays.len(), BOOTSTRAP_RESAMPLES, seed, |idx| {
        let r: Vec<Option<usize>> = idx.iter().map(|&i| delays[i]).collect();
        median_of_detected(&r)
    })
}

/// Clean-ID false positives at matched recall (E.5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CleanIdFpr {
    /// Threshold reaching the target recall on the dev stream.
    pub threshold: f64,
    /// Recall reached on dev.
    pub dev_recall: f64,
    /// Fraction of non-event clean-ID test frames with `score >= threshold`.
    pub fpr: f64,
}

/// Chooses the threshold reaching `recall` on the dev stream's event frames, then measures the
/// alarm rate on the test stream's clean-ID, non-event frames.
pub fn clean_id_fpr(
    dev_scores: &[f64],
    dev_labels: &[bool],
    test_scores: &[f64],
    test_labels: &[bool],
    test_clean_id: &[bool],
    recall: f64,
) -> Result<CleanIdFpr> {
    check_len("test labels", test_scores.len(), test_labels.len())?;
    check_len("test clean-ID mask", test_scores.len(), test_clean_id.len())?;
    check_finite("test scores", test_scores)?;
    let op = fpr_at_recall(dev_scores, dev_labels, recall)?;
    let (mut flagged, mut total) = (0usize, 0usize);
    for t in 0..test_scores.len() {
        if test_clean_id[t] && !test_labels[t] {
            total += 1;
            flagged += usize::from(test_scores[t] >= op.threshold);
        }
    }
    if total == 0 {
        return Err(EvalError::Undefined(
            "the test stream has no clean-ID non-event frames".into(),
        ));
    }
    Ok(CleanIdFpr {
        threshold: op.threshold,
        dev_recall: op.recall,
        fpr: flagged as f64 / total as f64,
    })
}

/// Every streaming number for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamMetrics {
    /// Test-stream frames.
    pub frames: usize,
    /// Test-stream events.
    pub events: usize,
    /// Frame AUPRC on the test stream (events positive).
    pub auprc: f64,
    /// Bootstrap CI over frames.
    pub auprc_ci: Option<Ci>,
    /// Event-weighted AUPRC (F.7).
    pub event_weighted_auprc: f64,
    /// Dev-chosen F1 operating point.
    pub dev_threshold: F1Threshold,
    /// Delays at the dev threshold on the test stream.
    pub delay: DelayStats,
    /// Bootstrap CI of the median delay over events.
    pub median_delay_ci: Option<Ci>,
    /// Clean-ID FPR at 90% dev recall, when the test stream has clean-ID frames.
    pub clean_id_fpr: Option<CleanIdFpr>,
}

/// Labelled dev/test streams for one method: scores plus the offline event labels.
#[derive(Debug, Clone, Copy)]
pub struct StreamScores<'a> {
    /// Method score per frame (higher = more likely in-event).
    pub scores: &'a [f64],
    /// Event label per frame (from [`event_labels`]).
    pub labels: &'a [bool],
}

/// Runs E.2–E.5 for one method: threshold on `dev`, everything else on `test`.
/// `test_clean_id` marks clean ID frames ([`Stream::clean_id_mask`]).
pub fn evaluate_stream(
    dev: StreamScores<'_>,
    test: StreamScores<'_>,
    test_clean_id: &[bool],
    seed: u64,
) -> Result<StreamMetrics> {
    check_len("test labels", test.scores.len(), test.labels.len())?;
    let auprc = metrics::auprc(test.scores, test.labels)?;
    let auprc_ci = metrics::auprc_ci(test.scores, test.labels, seed).ok();
    let weights = event_weights(test.labels);
    let event_weighted_auprc = metrics::auprc_weighted(test.scores, test.labels, Some(&weights))?;
    let dev_threshold = f1_threshold(dev.scores, dev.labels)?;
    let events = events_from_labels(test.labels);
    let delay = detection_delays(&events, test.scores, dev_threshold.threshold)?;
    let median_delay_ci = median_delay_ci(&delay.delays, seed.wrapping_add(1)).ok();
    let clean_id_fpr = clean_id_fpr(
        dev.scores,
        dev.labels,
        test.scores,
        test.labels,
        test_clean_id,
        MATCHED_RECALL,
    )
    .ok();
    Ok(StreamMetrics {
        frames: test.scores.len(),
        events: events.len(),
        auprc,
        auprc_ci,
        event_weighted_auprc,
        dev_threshold,
        delay,
        median_delay_ci,
        clean_id_fpr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    fn small_pools() -> (Vec<usize>, Vec<Vec<Vec<usize>>>, Vec<usize>) {
        let id: Vec<usize> = (0..50).collect();
        let cid: Vec<Vec<Vec<usize>>> = (0..5)
            .map(|s| {
                (0..3)
                    .map(|t| (0..4).map(|k| 1000 + s * 100 + t * 10 + k).collect())
                    .collect()
            })
            .collect();
        let ood: Vec<usize> = (5000..5010).collect();
        (id, cid, ood)
    }

    #[test]
    fn stream_layout_follows_algorithm_3() {
        let (id, cid, ood) = small_pools();
        let pools = StreamPools {
            id: &id,
            cid: &cid,
            ood: &ood,
        };
        let spec = StreamSpec {
            id_len: 20,
            cid_len: 6,
            ood_len: 3,
            type_cycle: 2,
            severities: 5,
        };
        let s = build_stream(&pools, &spec, 11).unwrap();
        assert_eq!(s.frames.len(), 20 + 5 * 6 + 4 * 3);
        let kinds: Vec<(SegmentKind, u8)> =
            s.segments.iter().map(|g| (g.kind, g.severity)).collect();
        use SegmentKind::*;
        assert_eq!(
            kinds,
            vec![
                (Id, 0),
                (Cid, 1),
                (Ood, 0),
                (Cid, 2),
                (Ood, 0),
                (Cid, 3),
                (Ood, 0),
                (Cid, 4),
                (Ood, 0),
                (Cid, 5)
            ]
        );
        // 20 ID frames from a pool of 50 are distinct (drawn without replacement).
        let mut ids: Vec<usize> = s.frames[..20].iter().map(|f| f.record).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 20);
        // Types cycle every 2 frames and continue across severities: 0,0,1,1,2,2 | 0,0,...
        let types: Vec<usize> = s.frames[20..26]
            .iter()
            .map(|f| f.corruption.unwrap())
            .collect();
        assert_eq!(types, vec![0, 0, 1, 1, 2, 2]);
        for f in &s.frames {
            match f.kind {
                Cid => {
                    let (sev, t) = ((f.record - 1000) / 100 + 1, (f.record % 100) / 10);
                    assert_eq!((sev as u8, Some(t)), (f.severity, f.corruption));
                }
                Ood => assert!(f.record >= 5000),
                Id => assert!(f.record < 50),
            }
        }
        assert_eq!(s, build_stream(&pools, &spec, 11).unwrap());
        assert_ne!(s, build_stream(&pools, &spec, 12).unwrap());
        assert_eq!(s.clean_id_mask().iter().filter(|&&b| b).count(), 20);
    }

    #[test]
    fn stream_rejects_missing_pools() {
        let (id, cid, _) = small_pools();
        let pools = StreamPools {
            id: &id,
            cid: &cid,
            ood: &[],
        };
        assert!(build_stream(&pools, &StreamSpec::default(), 0).is_err());
        let spec = StreamSpec {
            ood_len: 0,
            ..StreamSpec::default()
        };
        assert_eq!(build_stream(&pools, &spec, 0).unwrap().frames.len(), 7000);
        let pools = StreamPools {
            id: &id,
            cid: &cid[..2],
            ood: &[],
        };
        assert!(build_stream(&pools, &spec, 0).is_err());
    }

    #[test]
    fn band_and_labels_on_known_stream() {
        // ID run: one error every 10 frames → every full window has accuracy exactly 0.9.
        let id_run: Vec<bool> = (0..1000).map(|t| t % 10 != 0).collect();
        let band = id_band(&id_run, WINDOW).unwrap();
        assert_abs_diff_eq!(band.mean, 0.9, epsilon = 1e-12);
        assert_abs_diff_eq!(band.std, 0.0, epsilon = 1e-12);
        // Stream: 300 correct, 200 wrong, 300 correct → trailing window drops below 0.9 at the
        // 11th wrong frame (t = 310) and recovers once ≤ 10 wrong remain (t = 589).
        let correct: Vec<bool> = (0..800).map(|t| !(300..500).contains(&t)).collect();
        let labels = event_labels(&correct, &band).unwrap();
        let ev = events_from_labels(&labels);
        assert_eq!(
            ev,
            vec![Event {
                onset: 310,
                offset: 588
            }]
        );
    }

    #[test]
    fn merge_and_discard() {
        let mut raw = vec![false; 1000];
        raw[100..250].fill(true); // 150 long
        raw[300..420].fill(true); // gap 50 < 100 → merged with the first
        raw[700..750].fill(true); // 50 long, isolated → dropped
        let l = clean_event_labels(&raw, 100);
        assert_eq!(
            events_from_labels(&l),
            vec![Event {
                onset: 100,
                offset: 419
            }]
        );
    }

    #[test]
    fn delays_and_misses() {
        let events = [
            Event {
                onset: 10,
                offset: 20,
            },
            Event {
                onset: 30,
                offset: 40,
            },
        ];
        let mut s = vec![0.0; 50];
        s[5] = 1.0; // before onset: ignored
        s[13] = 1.0;
        s[15] = 1.0;
        s[45] = 1.0; // after the second event: it stays missed
        let d = detection_delays(&events, &s, 0.5).unwrap();
        assert_eq!(d.delays, vec![Some(3), None]);
        assert_eq!(d.median, Some(3.0));
        assert_abs_diff_eq!(d.miss_rate, 0.5);
        assert!(detection_delays(
            &[Event {
                onset: 10,
                offset: 60
            }],
            &s,
            0.5
        )
        .is_err());
        let ci = median_delay_ci(&[Some(2), Some(4), Some(6), None], 3).unwrap();
        assert!(ci.lo >= 2.0 && ci.hi <= 6.0);
    }

    #[test]
    fn f1_threshold_hand_case() {
        // At 0.7: TP 2, FP 0, FN 1 → F1 0.8; at 0.4: TP 3, FP 1 → F1 6/7 (best); at 0.1: 0.75.
        let s = [0.9, 0.7, 0.4, 0.3, 0.1];
        let y = [true, true, false, true, false];
        let t = f1_threshold(&s, &y).unwrap();
        assert_abs_diff_eq!(t.threshold, 0.3);
        assert_abs_diff_eq!(t.f1, 6.0 / 7.0, epsilon = 1e-9);
    }

    #[test]
    fn clean_fpr_and_weights() {
        let dev_s = [0.9, 0.8, 0.1, 0.2];
        let dev_y = [true, true, false, false];
        // Threshold 0.8 from dev; test clean non-event frames 0.85 and 0.1 → FPR 0.5; the
        // 0.95 frame is an event, the 0.9 one is not clean ID, so neither counts.
        let test_s = [0.85, 0.1, 0.95, 0.9];
        let test_y = [false, false, true, false];
        let clean = [true, true, true, false];
        let r = clean_id_fpr(&dev_s, &dev_y, &test_s, &test_y, &clean, 0.9).unwrap();
        assert_abs_diff_eq!(r.threshold, 0.8);
        assert_abs_diff_eq!(r.fpr, 0.5);
        let w = event_weights(&[false, true, true, false, true, false]);
        assert_abs_diff_eq!(w.iter().sum::<f64>(), 1.0, epsilon = 1e-12);
        assert_abs_diff_eq!(w[1] + w[2], 1.0 / 3.0, epsilon = 1e-12);
        assert_abs_diff_eq!(w[4], 1.0 / 3.0, epsilon = 1e-12);
    }

    #[test]
    fn evaluate_stream_perfect_detector() {
        let labels: Vec<bool> = (0..600).map(|t| (200..400).contains(&t)).collect();
        let scores: Vec<f64> = labels
            .iter()
            .enumerate()
            .map(|(t, &l)| if l { 0.9 } else { 0.1 + t as f64 * 1e-4 })
            .collect();
        let clean: Vec<bool> = (0..600).map(|t| t < 200).collect();
        let s = StreamScores {
            scores: &scores,
            labels: &labels,
        };
        let m = evaluate_stream(s, s, &clean, 5).unwrap();
        assert_abs_diff_eq!(m.auprc, 1.0, epsilon = 1e-9);
        assert_eq!(m.events, 1);
        assert_eq!(m.delay.median, Some(0.0));
        assert_abs_diff_eq!(m.clean_id_fpr.unwrap().fpr, 0.0);
    }
}
