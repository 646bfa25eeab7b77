//! The whole state between the host and the device: [`GpuSim::state`] and
//! [`GpuSim::state_blocks`] read it back a piece at a time, [`GpuSim::set_state`] uploads it a
//! piece at a time, so that neither holds a second copy of a large population's state on the
//! host. (The state of chosen neurons is `sample.rs`'s.) Device layout: V and r `[B][n]` per
//! shard, the components θ_1..θ_K, I_1..I_J, θ_v `[C][B][n]`; host layout: [`State`].

use super::{GpuSim, Shard};
use crate::error::Result;
use crate::frame::SpikeFrame;
use crate::state::{State, StateArray};

/// A row of a shard's state on the device, `[B][n]`: V, r, or component `cc` of the
/// `[C][B][n]` components (θ_1..θ_K, I_1..I_J, θ_v).
#[derive(Debug, Clone, Copy)]
enum Row {
    V,
    R,
    Comp(usize),
}

/// Writes to device buffers through the queue, submitting (and waiting) every 256 MB or so,
/// so that wgpu's staging memory never holds a whole large state (at 10⁹ GLIF5 neurons 24 GB).
struct Uploader<'a> {
    ctx: &'a crate::gpu::GpuContext,
    pending: usize,
}

impl<'a> Uploader<'a> {
    const BATCH_BYTES: usize = 256 << 20;

    fn new(ctx: &'a crate::gpu::GpuContext) -> Self {
        Uploader { ctx, pending: 0 }
    }
    /// Write `values` at value `at` of `buf`.
    fn put(&mut self, buf: &wgpu::Buffer, at: usize, values: &[f32]) -> Result<()> {
        self.ctx
            .queue
            .write_buffer(buf, (4 * at) as u64, bytemuck::cast_slice(values));
        self.pending += 4 * values.len();
        if self.pending >= Self::BATCH_BYTES {
            self.ctx.queue.submit([]);
            self.ctx.wait(None)?;
            self.pending = 0;
        }
        Ok(())
    }
    /// Submit what is left (and anything written to the queue beside) and wait for it.
    fn finish(self) -> Result<()> {
        self.ctx.queue.submit([]);
        self.ctx.wait(None)
    }
}

impl GpuSim {
    /// Read the whole state back (layouts of [`State`]) straight into the arrays returned,
    /// V, r and the components of up to 4M neurons of a shard and trial at a time, as many of
    /// those pieces per readback as fit in 64 MB (a small population in one).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Alif, 100)
    ///     .adapt_time_constants(vec![20.0.into()])
    ///     .adapt_increments(vec![1.0.into()])
    ///     .build()?;
    /// let mut sim = GpuSim::new(Arc::new(ctx), &pop, 2)?;
    /// sim.run(300, &vec![40.0; 300 * 200], StepOptions::default())?;
    /// let st = sim.state()?;
    /// assert_eq!((st.v.len(), st.theta.len()), (200, 200)); // [B][N], [B][N][K]
    /// assert!(st.theta.iter().all(|&t| t > 0.0)); // every neuron has spiked
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn state(&self) -> Result<State<f32>> {
        const PIECE: usize = 4 << 20;
        const BATCH_BYTES: usize = 64 << 20;
        let (n, b, p) = (self.pop.len(), self.trials, &self.pop);
        let c = p.components();
        let mut st = State {
            v: vec![0.0; b * n],
            r: vec![0.0; b * n],
            theta: vec![0.0; b * n * p.theta_len()],
            asc: vec![0.0; b * n * p.j()],
        };
        let places = StateArray::places(p);
        let rows: Vec<Row> = [Row::V, Row::R]
            .into_iter()
            .chain((0..c).map(Row::Comp))
            .collect();
        for sh in &self.shards {
            let pieces: Vec<(usize, usize, usize)> = (0..b)
                .flat_map(|t| {
                    (0..sh.n)
                        .step_by(PIECE)
                        .map(move |i0| (t, i0, PIECE.min(sh.n - i0)))
                })
                .collect();
            let mut rest = &pieces[..];
            while !rest.is_empty() {
                // The pieces of this readback: at least one, then as many as fit.
                let mut take = 1;
                let mut bytes = 4 * rows.len() * rest[0].2;
                while take < rest.len() && bytes + 4 * rows.len() * rest[take].2 <= BATCH_BYTES {
                    bytes += 4 * rows.len() * rest[take].2;
                    take += 1;
                }
                let got = self.read_rows(sh, &rest[..take], &rows)?;
                let mut from = 0;
                for &(t, i0, len) in &rest[..take] {
                    let got = &got[from..from + rows.len() * len];
                    from += rows.len() * len;
                    let at = t * n + sh.n0 + i0;
                    st.v[at..at + len].copy_from_slice(&got[..len]);
                    st.r[at..at + len].copy_from_slice(&got[len..2 * len]);
                    for (cc, &(a, per, q)) in places.iter().enumerate() {
                        let arr = st.array_mut(a);
                        for (i, &x) in got[(2 + cc) * len..(3 + cc) * len].iter().enumerate() {
                            arr[(at + i) * per + q] = x;
                        }
                    }
                }
                rest = &rest[take..];
            }
        }
        Ok(st)
    }

    /// For each piece `(t, i0, len)`: neurons `i0 .. i0 + len` of trial `t` in shard `sh`,
    /// from each of `rows` in turn; all read back in one submission (one per 256 MiB) and
    /// concatenated in the order given.
    fn read_rows(
        &self,
        sh: &Shard,
        pieces: &[(usize, usize, usize)],
        rows: &[Row],
    ) -> Result<Vec<f32>> {
        let mut ranges: Vec<(&wgpu::Buffer, u64, u64)> = Vec::new();
        for &(t, i0, len) in pieces {
            let at = |row: usize| (4 * (row * sh.n + i0)) as u64;
            let bytes = 4 * len as u64;
            ranges.extend(rows.iter().map(|&row| match row {
                Row::V => (&sh.v, at(t), bytes),
                Row::R => (&sh.r, at(t), bytes),
                // Device layout [C][B][n]: component cc of trial t is row cc·B + t.
                Row::Comp(cc) => (&sh.theta, at(cc * self.trials + t), bytes),
            }));
        }
        Ok(bytemuck::pod_collect_to_vec(
            &self.ctx.read_ranges(&ranges)?,
        ))
    }

    /// One array of the state read back in pieces of at most `max_values` values (or one
    /// neuron's, if more) that concatenate to [`GpuSim::state`]'s array `which`, handed to `f`
    /// in order: one readback per piece through a staging buffer of its size, so that the host
    /// never holds the whole state (a checkpoint of 10⁹ neurons writes from this). The CPU twin
    /// is [`CpuSim::state_blocks`](crate::CpuSim::state_blocks). An error from `f` or from the
    /// device stops the walk and is returned.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population, StateArray};
    /// let pop = Population::builder(Model::Lif, 1_000_000).build()?;
    /// let sim = GpuSim::new(Arc::new(GpuContext::new()?), &pop, 1)?;
    /// let mut sum = 0.0f64;
    /// sim.state_blocks(StateArray::V, 1 << 20, &mut |piece| {
    ///     sum += piece.iter().map(|&v| v as f64).sum::<f64>();
    ///     Ok(())
    /// })?;
    /// println!("mean V {:.3} mV", sum / 1e6);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn state_blocks(
        &self,
        which: StateArray,
        max_values: usize,
        f: &mut dyn FnMut(&[f32]) -> Result<()>,
    ) -> Result<()> {
        let b = self.trials;
        let idx = which.components(&self.pop);
        let per = idx.as_ref().map_or(1, Vec::len);
        if per == 0 {
            return Ok(());
        }
        let neurons = (max_values / per).max(1);
        let rows: Vec<Row> = match idx {
            None if which == StateArray::V => vec![Row::V],
            None => vec![Row::R],
            Some(idx) => idx.into_iter().map(Row::Comp).collect(),
        };
        let shards = self.shards_in_order();
        let mut out = Vec::new();
        // [B][N]: each trial's row is the shards' pieces in order of their first neuron.
        for t in 0..b {
            for sh in &shards {
                for i0 in (0..sh.n).step_by(neurons) {
                    let len = neurons.min(sh.n - i0);
                    let got = self.read_rows(sh, &[(t, i0, len)], &rows)?;
                    if per == 1 {
                        f(&got)?;
                    } else {
                        // Interleave the components of each neuron ([B][N][per]).
                        out.clear();
                        out.extend(
                            (0..len)
                                .flat_map(|i| (0..per).map(move |q| (q, i)))
                                .map(|(q, i)| got[q * len + i]),
                        );
                        f(&out)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Replace the whole state (checked first; on error nothing changes).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 3).build()?;
    /// let mut sim = GpuSim::new(Arc::new(ctx), &pop, 1)?;
    /// let mut st = sim.state()?;
    /// st.v = vec![-60.0, -55.0, -51.0];
    /// sim.set_state(&st)?;
    /// assert_eq!(sim.state()?.v, st.v);
    /// st.r[0] = -1.0; // a negative refractory time: refused, nothing uploaded
    /// assert!(sim.set_state(&st).is_err());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn set_state(&mut self, s: &State<f32>) -> Result<()> {
        let (n, b) = (self.pop.len(), self.trials);
        s.check(b, &self.pop)?;
        // Uploaded straight from `s`, a piece at a time (`Uploader`): no host copy of the
        // whole state in the device's layout.
        const PIECE: usize = 4 << 20;
        let mut up = Uploader::new(&self.ctx);
        let mut put = |buf: &wgpu::Buffer, at: usize, values: &[f32]| up.put(buf, at, values);
        // Each component of the device layout [C][B][n] (θ_1..θ_K, I_1..I_J, θ_v) and where
        // `s` holds it: array, values per neuron there, position among them.
        let comps: Vec<(&[f32], usize, usize)> = StateArray::places(&self.pop)
            .into_iter()
            .map(|(a, per, q)| (s.array(a), per, q))
            .collect();
        let mut piece = Vec::with_capacity(PIECE.min(b * n));
        for sh in &self.shards {
            // The refractory words, laid out as a spike frame: the bit is set where r > 0.
            let mut refr = SpikeFrame::new(b, sh.n);
            for t in 0..b {
                let row = t * n + sh.n0..t * n + sh.n0 + sh.n;
                for (i, &x) in s.r[row.clone()].iter().enumerate() {
                    if x > 0.0 {
                        refr.set(t, i);
                    }
                }
                for i0 in (0..sh.n).step_by(PIECE) {
                    let len = PIECE.min(sh.n - i0);
                    let from = row.start + i0..row.start + i0 + len;
                    put(&sh.v, t * sh.n + i0, &s.v[from.clone()])?;
                    put(&sh.r, t * sh.n + i0, &s.r[from.clone()])?;
                    for (cc, &(arr, per, q)) in comps.iter().enumerate() {
                        piece.clear();
                        piece.extend(from.clone().map(|i| arr[i * per + q]));
                        put(&sh.theta, (cc * b + t) * sh.n + i0, &piece)?;
                    }
                }
            }
            self.put_refractory(sh, &refr);
        }
        up.finish()
    }

    /// Fill array `which` of the state from `fill`, whole neurons of at most `max_values`
    /// values at a time, in the order of [`GpuSim::state_blocks`] (the CPU twin is
    /// `CpuSim::set_state_blocks`): each block is checked and uploaded to its shard, so a
    /// restore holds no copy of the state on the host (at 10⁹ LIF neurons 8 GB). Filling r
    /// also rewrites the refractory bits. On an error the array is partly replaced, so this
    /// serves a simulator built to be restored (`glifsim resume`), which an error discards.
    pub(crate) fn set_state_blocks(
        &mut self,
        which: StateArray,
        max_values: usize,
        fill: &mut dyn FnMut(&mut [f32]) -> Result<()>,
    ) -> Result<()> {
        let (n, b) = (self.pop.len(), self.trials);
        let per = which.per_neuron(&self.pop);
        if per == 0 {
            return Ok(());
        }
        let comps = which.components(&self.pop).unwrap_or_default();
        let neurons = (max_values / per).max(1);
        let mut up = Uploader::new(&self.ctx);
        let mut put = |buf: &wgpu::Buffer, at: usize, values: &[f32]| up.put(buf, at, values);
        let shards = self.shards_in_order();
        // The refractory words of each shard, laid out as a spike frame (bit set where r > 0).
        let mut refr: Vec<SpikeFrame> = match which {
            StateArray::R => shards.iter().map(|sh| SpikeFrame::new(b, sh.n)).collect(),
            _ => Vec::new(),
        };
        let mut block = vec![0f32; neurons.min(n) * per];
        let mut plane = Vec::with_capacity(neurons.min(n));
        // [B][N][per]: each trial's row is the shards' pieces in order of their first neuron.
        for t in 0..b {
            for (k, sh) in shards.iter().enumerate() {
                for i0 in (0..sh.n).step_by(neurons) {
                    let len = neurons.min(sh.n - i0);
                    let got = &mut block[..len * per];
                    fill(got)?;
                    let first = (t * n + sh.n0 + i0) * per;
                    crate::state::check_block(which, first, got)?;
                    let at = t * sh.n + i0;
                    match which {
                        StateArray::V => put(&sh.v, at, got)?,
                        StateArray::R => {
                            put(&sh.r, at, got)?;
                            for (i, _) in got.iter().enumerate().filter(|(_, &x)| x > 0.0) {
                                refr[k].set(t, i0 + i);
                            }
                        }
                        StateArray::Theta | StateArray::Asc => {
                            // Device layout [C][B][n]: component cc of trial t is row cc·B + t.
                            for (q, &cc) in comps.iter().enumerate() {
                                plane.clear();
                                plane.extend(got.iter().skip(q).step_by(per));
                                put(&sh.theta, (cc * b + t) * sh.n + i0, &plane)?;
                            }
                        }
                    }
                }
            }
        }
        for (sh, frame) in shards.iter().zip(&refr) {
            self.put_refractory(sh, frame);
        }
        up.finish()
    }

    /// The shards in order of their first neuron: the order of a `[B][N]` row of the state.
    fn shards_in_order(&self) -> Vec<&Shard> {
        let mut shards: Vec<&Shard> = self.shards.iter().collect();
        shards.sort_by_key(|sh| sh.n0);
        shards
    }

    /// Write a shard's refractory bits (a frame of its `B × n` neurons, set where r > 0) after
    /// the spike rows of a chunk, where the kernels keep them.
    fn put_refractory(&self, sh: &Shard, frame: &SpikeFrame) {
        self.ctx.queue.write_buffer(
            &sh.spikes,
            (self.chunk * self.trials * sh.w * 4) as u64,
            bytemuck::cast_slice(frame.words()),
        );
    }
}
