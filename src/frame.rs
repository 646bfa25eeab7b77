//! Spike bitmask frames: the layout both paths share.
//!
//! One step's spikes for N neurons and B trials are `B · W` u32 words with `W = ⌈N/32⌉`:
//! the spike bit of neuron `n` in trial `b` is bit `n % 32` of word `b · W + n / 32`. Bits past
//! N in a trial's last word are always zero. A run of T steps is T such frames back to back,
//! `[T][B][W]`.

/// Words per trial for `n` neurons: ⌈n/32⌉.
///
/// ```
/// use glifsim::frame::words_per_trial;
/// assert_eq!(words_per_trial(32), 1);
/// assert_eq!(words_per_trial(33), 2);
/// assert_eq!(words_per_trial(1_000_000), 31_250);
/// ```
#[inline]
pub fn words_per_trial(n: usize) -> usize {
    n.div_ceil(32)
}

/// The spikes of one step: `trials × ⌈neurons/32⌉` words.
///
/// ```
/// use glifsim::SpikeFrame;
/// let mut f = SpikeFrame::new(2, 40);
/// f.set(1, 33);
/// assert!(f.get(1, 33));
/// assert_eq!(f.indices(1), vec![33]);
/// assert_eq!(f.words()[1 * 2 + 1], 1 << 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpikeFrame {
    trials: usize,
    neurons: usize,
    words: Vec<u32>,
}

impl SpikeFrame {
    /// An empty frame.
    ///
    /// ```
    /// use glifsim::SpikeFrame;
    /// let f = SpikeFrame::new(3, 100);
    /// assert_eq!((f.words().len(), f.count()), (3 * 4, 0));
    /// ```
    pub fn new(trials: usize, neurons: usize) -> Self {
        SpikeFrame {
            trials,
            neurons,
            words: vec![0; trials * words_per_trial(neurons)],
        }
    }
    /// Wrap existing words.
    ///
    /// # Panics
    /// If `words` is not `trials · ⌈neurons/32⌉` long.
    ///
    /// ```
    /// use glifsim::SpikeFrame;
    /// // Neurons 0 and 35 of 40 spiked in the one trial.
    /// let f = SpikeFrame::from_words(1, 40, vec![1, 1 << 3]);
    /// assert_eq!(f.indices(0), vec![0, 35]);
    /// ```
    pub fn from_words(trials: usize, neurons: usize, words: Vec<u32>) -> Self {
        assert_eq!(words.len(), trials * words_per_trial(neurons));
        SpikeFrame {
            trials,
            neurons,
            words,
        }
    }
    /// Number of trials B.
    ///
    /// ```
    /// use glifsim::SpikeFrame;
    /// assert_eq!(SpikeFrame::new(4, 10).trials(), 4);
    /// ```
    pub fn trials(&self) -> usize {
        self.trials
    }
    /// Number of neurons N.
    ///
    /// ```
    /// use glifsim::SpikeFrame;
    /// assert_eq!(SpikeFrame::new(4, 10).neurons(), 10);
    /// ```
    pub fn neurons(&self) -> usize {
        self.neurons
    }
    /// The raw words, `[B][W]`.
    ///
    /// ```
    /// use glifsim::SpikeFrame;
    /// let mut f = SpikeFrame::new(2, 64);
    /// f.set(1, 0);
    /// assert_eq!(f.words(), &[0, 0, 1, 0]); // trial 0's two words, then trial 1's
    /// ```
    pub fn words(&self) -> &[u32] {
        &self.words
    }
    pub(crate) fn words_mut(&mut self) -> &mut [u32] {
        &mut self.words
    }
    /// Whether neuron `n` spiked in trial `b`.
    ///
    /// ```
    /// use glifsim::SpikeFrame;
    /// let mut f = SpikeFrame::new(1, 8);
    /// f.set(0, 5);
    /// assert!(f.get(0, 5) && !f.get(0, 4));
    /// ```
    #[inline]
    pub fn get(&self, b: usize, n: usize) -> bool {
        let w = words_per_trial(self.neurons);
        self.words[b * w + n / 32] >> (n % 32) & 1 == 1
    }
    /// Set the spike bit of neuron `n` in trial `b`.
    ///
    /// ```
    /// use glifsim::SpikeFrame;
    /// let mut f = SpikeFrame::new(2, 8);
    /// f.set(1, 7);
    /// assert_eq!(f.indices(1), vec![7]);
    /// assert!(f.indices(0).is_empty());
    /// ```
    pub fn set(&mut self, b: usize, n: usize) {
        let w = words_per_trial(self.neurons);
        self.words[b * w + n / 32] |= 1 << (n % 32);
    }
    /// Indices of the neurons that spiked in trial `b`, ascending.
    ///
    /// ```
    /// use glifsim::SpikeFrame;
    /// let mut f = SpikeFrame::new(1, 100);
    /// for n in [99, 3, 64] {
    ///     f.set(0, n);
    /// }
    /// assert_eq!(f.indices(0), vec![3, 64, 99]);
    /// ```
    pub fn indices(&self, b: usize) -> Vec<u32> {
        let w = words_per_trial(self.neurons);
        bits_to_indices(&self.words[b * w..(b + 1) * w])
    }
    /// Total number of spikes in the frame.
    ///
    /// ```
    /// use glifsim::SpikeFrame;
    /// let mut f = SpikeFrame::new(2, 10);
    /// f.set(0, 1);
    /// f.set(1, 1);
    /// assert_eq!(f.count(), 2);
    /// ```
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| w.count_ones() as u64).sum()
    }
}

/// Indices of the set bits of a row of words (bit `i % 32` of word `i / 32` is index `i`).
///
/// ```
/// assert_eq!(glifsim::frame::bits_to_indices(&[0b101, 1 << 31]), vec![0, 2, 63]);
/// ```
pub fn bits_to_indices(words: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    bits_to_indices_into(words, &mut out);
    out
}

/// [`bits_to_indices`] appended to `out`, for a caller that reuses one buffer row after row.
///
/// ```
/// use glifsim::frame::bits_to_indices_into;
/// let mut out = Vec::new();
/// for row in [[0b11u32], [1 << 4]] {
///     out.clear();
///     bits_to_indices_into(&row, &mut out);
/// }
/// assert_eq!(out, vec![4]);
/// ```
pub fn bits_to_indices_into(words: &[u32], out: &mut Vec<u32>) {
    for (wi, &w) in words.iter().enumerate() {
        let mut w = w;
        while w != 0 {
            let bit = w.trailing_zeros();
            out.push(wi as u32 * 32 + bit);
            w &= w - 1;
        }
    }
}

/// The spikes of a run of T steps, `[T][B][W]` words.
///
/// ```
/// use glifsim::{SpikeFrame, SpikeRecord};
/// let mut rec = SpikeRecord::new(1, 33);
/// let mut f = SpikeFrame::new(1, 33);
/// f.set(0, 32);
/// rec.push(&f);
/// assert_eq!(rec.steps(), 1);
/// assert_eq!(rec.frame(0).indices(0), vec![32]);
/// assert_eq!(rec.count_per_neuron(), vec![[0u64; 32].as_slice(), &[1]].concat());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpikeRecord {
    trials: usize,
    neurons: usize,
    words: Vec<u32>,
}

impl SpikeRecord {
    /// An empty record.
    ///
    /// ```
    /// use glifsim::SpikeRecord;
    /// let rec = SpikeRecord::new(2, 1000);
    /// assert_eq!((rec.steps(), rec.count()), (0, 0));
    /// ```
    pub fn new(trials: usize, neurons: usize) -> Self {
        SpikeRecord {
            trials,
            neurons,
            words: Vec::new(),
        }
    }
    /// Number of steps held.
    ///
    /// ```
    /// use glifsim::{SpikeFrame, SpikeRecord};
    /// let mut rec = SpikeRecord::new(1, 10);
    /// for _ in 0..3 {
    ///     rec.push(&SpikeFrame::new(1, 10));
    /// }
    /// assert_eq!(rec.steps(), 3);
    /// ```
    pub fn steps(&self) -> usize {
        let fw = self.trials * words_per_trial(self.neurons);
        self.words.len().checked_div(fw).unwrap_or(0)
    }
    /// Number of trials B.
    ///
    /// ```
    /// use glifsim::SpikeRecord;
    /// assert_eq!(SpikeRecord::new(5, 10).trials(), 5);
    /// ```
    pub fn trials(&self) -> usize {
        self.trials
    }
    /// Number of neurons N.
    ///
    /// ```
    /// use glifsim::SpikeRecord;
    /// assert_eq!(SpikeRecord::new(5, 10).neurons(), 10);
    /// ```
    pub fn neurons(&self) -> usize {
        self.neurons
    }
    /// Raw words `[T][B][W]`.
    ///
    /// ```
    /// use glifsim::{SpikeFrame, SpikeRecord};
    /// let mut rec = SpikeRecord::new(1, 33);
    /// let mut f = SpikeFrame::new(1, 33);
    /// f.set(0, 32);
    /// rec.push(&SpikeFrame::new(1, 33));
    /// rec.push(&f);
    /// assert_eq!(rec.words(), &[0, 0, 0, 1]); // [T][B][W]: step 0, then step 1
    /// ```
    pub fn words(&self) -> &[u32] {
        &self.words
    }
    /// Append one frame.
    ///
    /// # Panics
    /// If the frame has another number of trials or neurons.
    ///
    /// ```
    /// use glifsim::{SpikeFrame, SpikeRecord};
    /// let mut rec = SpikeRecord::new(1, 4);
    /// let mut f = SpikeFrame::new(1, 4);
    /// f.set(0, 2);
    /// rec.push(&f);
    /// assert_eq!(rec.events(), vec![(0, 0, 2)]);
    /// ```
    pub fn push(&mut self, f: &SpikeFrame) {
        assert_eq!((f.trials, f.neurons), (self.trials, self.neurons));
        self.words.extend_from_slice(&f.words);
    }
    /// Run `run`, handing it a sink that appends each chunk of frames to a new record; the
    /// shared tail of every `run`/`run_driven` of both paths.
    pub(crate) fn collect(
        trials: usize,
        neurons: usize,
        run: impl FnOnce(&mut dyn FnMut(usize, &[u32]) -> crate::Result<()>) -> crate::Result<()>,
    ) -> crate::Result<SpikeRecord> {
        let mut rec = SpikeRecord::new(trials, neurons);
        run(&mut |_, words| {
            rec.extend_words(words);
            Ok(())
        })?;
        Ok(rec)
    }
    /// Append raw words of whole frames (`[T][B][W]`).
    ///
    /// # Panics
    /// If `words` is not a whole number of frames long.
    ///
    /// ```
    /// use glifsim::SpikeRecord;
    /// let mut rec = SpikeRecord::new(2, 32);
    /// rec.extend_words(&[1, 0, 0, 2]); // two steps of two trials
    /// assert_eq!(rec.events(), vec![(0, 0, 0), (1, 1, 1)]);
    /// ```
    pub fn extend_words(&mut self, words: &[u32]) {
        let fw = self.trials * words_per_trial(self.neurons);
        assert_eq!(words.len() % fw, 0, "partial frame");
        self.words.extend_from_slice(words);
    }
    /// Frame of step `t`.
    ///
    /// # Panics
    /// If `t ≥ self.steps()`.
    ///
    /// ```
    /// use glifsim::SpikeRecord;
    /// let mut rec = SpikeRecord::new(1, 32);
    /// rec.extend_words(&[0, 1 << 9]);
    /// assert_eq!(rec.frame(1).indices(0), vec![9]);
    /// ```
    pub fn frame(&self, t: usize) -> SpikeFrame {
        let fw = self.trials * words_per_trial(self.neurons);
        SpikeFrame::from_words(
            self.trials,
            self.neurons,
            self.words[t * fw..(t + 1) * fw].to_vec(),
        )
    }
    /// Total number of spikes.
    ///
    /// ```
    /// use glifsim::SpikeRecord;
    /// let mut rec = SpikeRecord::new(1, 32);
    /// rec.extend_words(&[0b111, 0b1]);
    /// assert_eq!(rec.count(), 4);
    /// ```
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| w.count_ones() as u64).sum()
    }
    /// Spike count of every neuron, summed over steps and trials.
    ///
    /// ```
    /// use glifsim::SpikeRecord;
    /// let mut rec = SpikeRecord::new(2, 3);
    /// rec.extend_words(&[0b001, 0b101, 0b001, 0b000]); // two steps × two trials
    /// assert_eq!(rec.count_per_neuron(), vec![3, 0, 1]);
    /// ```
    pub fn count_per_neuron(&self) -> Vec<u64> {
        let w = words_per_trial(self.neurons);
        let mut c = vec![0u64; self.neurons];
        for row in self.words.chunks(w) {
            for i in bits_to_indices(row) {
                c[i as usize] += 1;
            }
        }
        c
    }
    /// Every spike as (step, trial, neuron), ordered by step, then trial, then neuron.
    ///
    /// ```
    /// use glifsim::SpikeRecord;
    /// let mut rec = SpikeRecord::new(2, 3);
    /// rec.extend_words(&[0b001, 0b100, 0b010, 0b000]);
    /// assert_eq!(rec.events(), vec![(0, 0, 0), (0, 1, 2), (1, 0, 1)]);
    /// ```
    pub fn events(&self) -> Vec<(u32, u32, u32)> {
        let w = words_per_trial(self.neurons);
        let mut out = Vec::new();
        for (row_i, row) in self.words.chunks(w).enumerate() {
            let (t, b) = (row_i / self.trials, row_i % self.trials);
            for n in bits_to_indices(row) {
                out.push((t as u32, b as u32, n));
            }
        }
        out
    }
}
