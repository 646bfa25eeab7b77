//! Reading the state of chosen neurons back from the device: [`GpuSim::state_of`] between
//! runs, and [`GpuSim::run_sampled`], which copies it on the device after each sample step
//! within a run (the engine's `run_chunks` carries the copies and their readback). Both lay
//! the neurons out the same way ([`SampleLayout`]) and assemble a [`State`] from the copy.

use super::{Feed, GpuSim, SPIKE_CHUNK_BYTES, STATE_OF_RUN_GAP};
use crate::error::{Error, Result};
use crate::state::{check_neurons, Sampling, State, StepOptions};

/// Where the state of some neurons lies on the device ([`GpuSim::sample_layout`]): ranges
/// (shard, plane array 0 = V, 1 = r, 2 = components, byte offset, bytes) copied one after the
/// other into `bytes` bytes, and per shard how its neurons sit in that copy.
pub(super) struct SampleLayout {
    pub(super) ranges: Vec<(usize, u8, u64, u64)>,
    shards: Vec<ShardSample>,
    pub(super) bytes: u64,
}

/// One shard's part of a [`SampleLayout`]: its runs of neurons (shard-local), where each
/// run starts within a plane, the plane's length, and where the shard's planes start in the
/// copy (in f32s).
struct ShardSample {
    shard: usize,
    at: usize,
    runs: Vec<(usize, usize)>,
    base: Vec<usize>,
    len: usize,
}

/// Cut sorted, distinct indices into runs `[a, z)` that cover them, joining two indices with
/// fewer than `gap` others between them into one run.
fn neuron_runs(sorted: &[usize], gap: usize) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &i in sorted {
        match runs.last_mut() {
            Some((_, z)) if i < *z + gap => *z = i + 1,
            _ => runs.push((i, i + 1)),
        }
    }
    runs
}

impl GpuSim {
    /// Read back the state of the listed neurons only: a [`State`] of B trials ×
    /// `neurons.len()` neurons, in the order given (repeats allowed), in the layouts of
    /// [`State`] with `neurons.len()` in place of N. What a recorder of a few traces in a
    /// large population needs: it moves the listed neurons' values (read in runs, see
    /// [`STATE_OF_RUN_GAP`]) in one submission for every shard (one per 256 MiB read), where
    /// [`GpuSim::state`] moves the whole population. An index past the population is an
    /// error.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population};
    /// let ctx = Arc::new(GpuContext::new()?);
    /// let pop = Population::builder(Model::Lif, 1_000_000).build()?;
    /// let sim = GpuSim::new(ctx, &pop, 1)?;
    /// let some = sim.state_of(&[0, 1, 500_000])?;
    /// assert_eq!(some.v.len(), 3);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn state_of(&self, neurons: &[usize]) -> Result<State<f32>> {
        check_neurons(neurons, self.pop.len())?;
        let layout = self.sample_layout(neurons);
        let ranges: Vec<(&wgpu::Buffer, u64, u64)> = layout
            .ranges
            .iter()
            .map(|&(s, plane, offset, size)| (self.plane_buffer(s, plane), offset, size))
            .collect();
        let got: Vec<f32> = bytemuck::pod_collect_to_vec(&self.ctx.read_ranges(&ranges)?);
        Ok(self.assemble(neurons, &layout, &got))
    }

    /// The state array of shard `s` that plane `plane` of [`SampleLayout`] lies in.
    pub(super) fn plane_buffer(&self, s: usize, plane: u8) -> &wgpu::Buffer {
        let sh = &self.shards[s];
        match plane {
            0 => &sh.v,
            1 => &sh.r,
            _ => &sh.theta,
        }
    }

    /// Where the state of `neurons` (checked) lies on the device: in every shard that holds
    /// some, runs of them (neurons fewer than [`STATE_OF_RUN_GAP`] apart share one) in each
    /// plane (V `[B][n]`, r `[B][n]`, components `[C][B][n]`), as ranges to copy one after
    /// the other.
    pub(super) fn sample_layout(&self, neurons: &[usize]) -> SampleLayout {
        let (b, c) = (self.trials, self.pop.components());
        let mut layout = SampleLayout {
            ranges: Vec::new(),
            shards: Vec::new(),
            bytes: 0,
        };
        for (s, sh) in self.shards.iter().enumerate() {
            let mut local: Vec<usize> = neurons
                .iter()
                .filter(|&&i| (sh.n0..sh.n0 + sh.n).contains(&i))
                .map(|&i| i - sh.n0)
                .collect();
            if local.is_empty() {
                continue;
            }
            local.sort_unstable();
            local.dedup();
            let runs = neuron_runs(&local, STATE_OF_RUN_GAP);
            // Run j's neurons sit at `base[j]..` of every plane copied.
            let mut base = Vec::with_capacity(runs.len());
            let mut len = 0;
            for &(a, z) in &runs {
                base.push(len);
                len += z - a;
            }
            let at = (layout.bytes / 4) as usize;
            let planes = (0..b)
                .map(|t| (0u8, t))
                .chain((0..b).map(|t| (1u8, t)))
                .chain((0..c * b).map(|p| (2u8, p)));
            for (plane, p) in planes {
                for &(a, z) in &runs {
                    let (offset, size) = (((p * sh.n + a) * 4) as u64, ((z - a) * 4) as u64);
                    layout.ranges.push((s, plane, offset, size));
                    layout.bytes += size;
                }
            }
            layout.shards.push(ShardSample {
                shard: s,
                at,
                runs,
                base,
                len,
            });
        }
        layout
    }

    /// The state of `neurons` from one copy of `layout`'s ranges (`got`, as f32).
    pub(super) fn assemble(
        &self,
        neurons: &[usize],
        layout: &SampleLayout,
        got: &[f32],
    ) -> State<f32> {
        let (b, c) = (self.trials, self.pop.components());
        let m = neurons.len();
        let mut v = vec![0.0f32; b * m];
        let mut r = vec![0.0f32; b * m];
        let mut comps = vec![0.0f32; b * m * c];
        for ss in &layout.shards {
            let sh = &self.shards[ss.shard];
            let got = &got[ss.at..];
            let len = ss.len;
            for (k, &i) in neurons.iter().enumerate() {
                if !(sh.n0..sh.n0 + sh.n).contains(&i) {
                    continue;
                }
                let li = i - sh.n0;
                let j = ss.runs.partition_point(|&(_, z)| z <= li);
                let at = ss.base[j] + li - ss.runs[j].0;
                for t in 0..b {
                    v[t * m + k] = got[t * len + at];
                    r[t * m + k] = got[(b + t) * len + at];
                    for cc in 0..c {
                        comps[(t * m + k) * c + cc] = got[(2 * b + cc * b + t) * len + at];
                    }
                }
            }
        }
        State::from_components(v, r, &comps, &self.pop)
    }

    /// Bytes of one chunk's samples every `every` steps laid out as `layout`: as many as a
    /// chunk can hold (`run_chunks` sizes its sample buffers by this).
    pub(super) fn chunk_sample_bytes(&self, every: u64, layout: &SampleLayout) -> u64 {
        self.chunk.div_ceil(every.max(1) as usize) as u64 * layout.bytes
    }

    /// Whether [`GpuSim::run_sampled`] can take `sampling`'s samples on the device: one
    /// chunk's samples within 256 MiB (the spike rows' limit).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population, Sampling};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 1000).build()?;
    /// let sim = GpuSim::new(Arc::new(ctx), &pop, 1)?;
    /// assert!(sim.samples_on_device(&Sampling { neurons: vec![0, 999], every: 10 }));
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn samples_on_device(&self, sampling: &Sampling) -> bool {
        let layout = self.sample_layout(&sampling.neurons);
        self.chunk_sample_bytes(sampling.every, &layout) <= SPIKE_CHUNK_BYTES
    }

    /// Run `steps` steps (host `inputs` `[T][B][N]`, or the drive alone when `None`), handing
    /// the spikes to `sink` as [`GpuSim::run_with`] does and, after every step that brings the
    /// step count to a multiple of `sampling.every`, the state of `sampling.neurons` to
    /// `on_sample(step count, state)`: copied on the device between that step's dispatch and
    /// the next, so the run does not wait for the host at each sample (a fused chunk is cut
    /// into one dispatch per stretch between samples). Each sample equals what
    /// [`GpuSim::state_of`] reads at that step. Where [`GpuSim::samples_on_device`] is false
    /// this is an error ([`Simulator::run_sampled`](crate::Simulator::run_sampled) then cuts
    /// the run at the samples instead).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population, Sampling, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 1000).build()?;
    /// let mut sim = GpuSim::new(Arc::new(ctx), &pop, 1)?;
    /// let x = vec![20.0f32; 100 * 1000];
    /// let sampling = Sampling { neurons: vec![7], every: 25 };
    /// let mut v7 = Vec::new();
    /// sim.run_sampled(100, Some(&x), StepOptions::default(), &sampling, |_, _| Ok(()), |step, st| {
    ///     v7.push((step, st.v[0]));
    ///     Ok(())
    /// })?;
    /// assert_eq!(v7.iter().map(|s| s.0).collect::<Vec<_>>(), vec![25, 50, 75, 100]);
    /// assert!(v7.windows(2).all(|w| w[1].1 > w[0].1)); // V rising toward −45 mV
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn run_sampled(
        &mut self,
        steps: usize,
        inputs: Option<&[f32]>,
        opts: StepOptions,
        sampling: &Sampling,
        sink: impl FnMut(usize, &[u32]) -> Result<()>,
        on_sample: impl FnMut(u64, State<f32>) -> Result<()>,
    ) -> Result<()> {
        sampling.check(self.pop.len())?;
        let layout = self.sample_layout(&sampling.neurons);
        if self.chunk_sample_bytes(sampling.every, &layout) > SPIKE_CHUNK_BYTES {
            return Err(Error::Usage(format!(
                "sampling {} neurons every {} steps takes more than {} MiB per chunk on the device",
                sampling.neurons.len(),
                sampling.every,
                SPIKE_CHUNK_BYTES >> 20
            )));
        }
        self.run_feed(
            steps,
            Feed::of(inputs),
            opts,
            sink,
            Some((sampling, &layout)),
            on_sample,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::neuron_runs;

    #[test]
    fn neuron_runs_cover_every_index_and_join_near_ones() {
        assert_eq!(neuron_runs(&[], 4), vec![]);
        assert_eq!(neuron_runs(&[7], 4), vec![(7, 8)]);
        // 0, 1, 2 adjacent; 5 skips two indices (joined, gap 4); 10 skips four (not).
        assert_eq!(
            neuron_runs(&[0, 1, 2, 5, 10, 11], 4),
            vec![(0, 6), (10, 12)]
        );
        assert_eq!(
            neuron_runs(&[0, 100, 200], 1),
            vec![(0, 1), (100, 101), (200, 201)]
        );
    }
}
