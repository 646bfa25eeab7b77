//! Checkpoints: the complete state of a simulation in one versioned, checksummed file.
//!
//! A checkpoint holds, for every population, its state (V, r, θ, after-spike currents), its
//! drive, a fingerprint of its parameters, and (for runs of the command line) the spec and the
//! recorders' positions, plus the step count. The step count is also the position of every
//! input source: the schedule and the host arrays are indexed by step, and the noise
//! generator is counter-based (Philox keyed by neuron, trial and step), so nothing else needs
//! saving. The state is f32 on both paths, so a checkpoint taken on one path restores on the
//! other.
//!
//! Layout: `GLIFCKPT` · version (u32) · metadata length (u64) · metadata (JSON) · payload length
//! (u64) · payload (little-endian arrays) · CRC32 of everything before it (u32). Writing goes to
//! a temporary file that is synced and then renamed over the old checkpoint, so a crash while
//! writing leaves the previous checkpoint intact.
//!
//! ```
//! use glifsim::checkpoint::Checkpoint;
//! use glifsim::{Backend, Model, Population, Simulator, StepOptions};
//! let pop = Population::builder(Model::Lif, 200).build()?;
//! let input = vec![20.0f32; 100 * 200];
//! let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
//! sim.run(100, &input, StepOptions::default())?;
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("run.glifsim");
//! Checkpoint::capture(&[("exc", &sim)])?.write_atomic(&path)?;
//! // Later, maybe on the other path: a fresh simulator of the same population, restored.
//! let mut again = Simulator::new(&pop, 1, Backend::Cpu)?;
//! Checkpoint::read(&path)?.restore(0, &mut again)?;
//! assert_eq!(again.steps_done(), 100);
//! let (a, b) = (sim.run(50, &input[..50 * 200], StepOptions::default())?,
//!               again.run(50, &input[..50 * 200], StepOptions::default())?);
//! assert_eq!(a, b); // the restored run continues bit for bit
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::input::Drive;
use crate::record::IsiStats;
use crate::{Simulator, State, StateArray};

/// File magic.
///
/// ```
/// use glifsim::checkpoint::{Checkpoint, MAGIC};
/// use glifsim::{Backend, Model, Population, Simulator};
/// let pop = Population::builder(Model::Lif, 10).build()?;
/// let sim = Simulator::new(&pop, 1, Backend::Cpu)?;
/// let bytes = Checkpoint::capture(&[("p", &sim)])?.to_bytes();
/// assert_eq!(&bytes[..8], MAGIC);
/// # Ok::<(), glifsim::Error>(())
/// ```
pub const MAGIC: &[u8; 8] = b"GLIFCKPT";
/// Format version this glifsim writes and reads.
///
/// ```
/// use glifsim::checkpoint::{Checkpoint, VERSION};
/// use glifsim::{Backend, Model, Population, Simulator};
/// let pop = Population::builder(Model::Lif, 10).build()?;
/// let sim = Simulator::new(&pop, 1, Backend::Cpu)?;
/// let mut bytes = Checkpoint::capture(&[("p", &sim)])?.to_bytes();
/// assert_eq!(&bytes[8..12], &VERSION.to_le_bytes());
/// // A file from a later format is refused, by name.
/// bytes[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
/// let e = Checkpoint::from_bytes(&bytes, "x.glifsim".as_ref()).unwrap_err();
/// assert!(e.to_string().contains("version"), "{e}");
/// # Ok::<(), glifsim::Error>(())
/// ```
pub const VERSION: u32 = 1;
/// The file name the command line uses inside an output directory.
///
/// ```
/// use glifsim::checkpoint::FILE_NAME;
/// let out = std::path::Path::new("out/run1");
/// assert_eq!(out.join(FILE_NAME), std::path::Path::new("out/run1/checkpoint.glifsim"));
/// ```
pub const FILE_NAME: &str = "checkpoint.glifsim";

/// How far a population's recording had got.
///
/// ```
/// use glifsim::checkpoint::RecorderPosition;
/// let pos = RecorderPosition { spike_rows: 120, trace_rows: 3, total: 4_000 };
/// let json = serde_json::to_string(&pos).unwrap();
/// assert_eq!(serde_json::from_str::<RecorderPosition>(&json).unwrap(), pos);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecorderPosition {
    /// Rows of `<name>_spikes.npy`.
    pub spike_rows: u64,
    /// Rows of the trace files (samples).
    pub trace_rows: u64,
    /// Spikes counted so far.
    pub total: u64,
}

/// Metadata of one population.
///
/// ```
/// use glifsim::checkpoint::Checkpoint;
/// use glifsim::{Backend, Model, Population, Simulator};
/// let pop = Population::builder(Model::Lif, 10).build()?;
/// let sim = Simulator::new(&pop, 2, Backend::Cpu)?;
/// let meta = Checkpoint::meta_of(&[("exc", &sim)])?;
/// let p = &meta.populations[0];
/// assert_eq!((p.name.as_str(), p.model.as_str(), p.neurons, p.trials), ("exc", "LIF", 10, 2));
/// assert_eq!(p.fingerprint, pop.fingerprint());
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PopulationMeta {
    /// Name.
    pub name: String,
    /// Model name.
    pub model: String,
    /// Neurons.
    pub neurons: usize,
    /// Trials.
    pub trials: usize,
    /// [`crate::Population::fingerprint`].
    pub fingerprint: u64,
    /// The drive.
    pub drive: Drive,
    /// Recording position (command-line runs).
    pub recorder: Option<RecorderPosition>,
}

impl PopulationMeta {
    /// That `sim` has this population's model, size and trials.
    fn check_shape(&self, sim: &Simulator) -> Result<()> {
        let p = sim.population();
        if self.model != p.model().name() || self.neurons != p.len() || self.trials != sim.trials()
        {
            return Err(Error::Usage(format!(
                "checkpoint population '{}' is {} × {} neurons × {} trials, the simulator {} × {} × {}",
                self.name,
                self.model,
                self.neurons,
                self.trials,
                p.model(),
                p.len(),
                sim.trials()
            )));
        }
        Ok(())
    }
}

/// Checkpoint metadata.
///
/// ```
/// use glifsim::checkpoint::Checkpoint;
/// use glifsim::{Backend, Model, Population, Simulator, StepOptions};
/// let pop = Population::builder(Model::Lif, 10).build()?;
/// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
/// sim.run(25, &[0.0; 250], StepOptions::default())?;
/// let meta = Checkpoint::meta_of(&[("exc", &sim)])?;
/// assert_eq!(meta.steps, 25);
/// assert_eq!(meta.noise_generator, glifsim::noise::NOISE_GENERATOR);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// glifsim version that wrote it.
    pub glifsim: String,
    /// Steps completed.
    pub steps: u64,
    /// The noise generator that drew this run's noise ([`crate::noise::NOISE_GENERATOR`];
    /// files without the field were written by generator 1).
    #[serde(default = "first_noise_generator")]
    pub noise_generator: u32,
    /// The spec of a command-line run, as JSON.
    pub spec: Option<serde_json::Value>,
    /// The directory the spec's relative paths resolve against.
    pub spec_dir: Option<PathBuf>,
    /// Populations, in order.
    pub populations: Vec<PopulationMeta>,
}

impl Meta {
    /// That population `index` can be restored into `sim`: the same model, size, trials and
    /// parameters, and a valid drive drawn by this glifsim's noise generator (everything but
    /// the state itself).
    fn check_restore(&self, index: usize, sim: &Simulator) -> Result<()> {
        let m = self
            .populations
            .get(index)
            .ok_or_else(|| Error::Usage(format!("the checkpoint has no population {index}")))?;
        m.check_shape(sim)?;
        let p = sim.population();
        if m.fingerprint != p.fingerprint() {
            return Err(Error::Usage(format!(
                "checkpoint population '{}' was taken with other parameters (fingerprint {:016x}, simulator {:016x})",
                m.name,
                m.fingerprint,
                p.fingerprint()
            )));
        }
        m.drive.validate(p.len())?;
        let generator = self.noise_generator;
        if m.drive.noise.is_some() && generator != crate::noise::NOISE_GENERATOR {
            return Err(Error::Usage(format!(
                "checkpoint population '{}' draws noise with generator {generator} (glifsim {}); this glifsim has generator {}, so the run cannot continue with the same noise: start it again, or resume it with glifsim {}",
                m.name,
                self.glifsim,
                crate::noise::NOISE_GENERATOR,
                self.glifsim
            )));
        }
        Ok(())
    }
}

fn first_noise_generator() -> u32 {
    1
}

/// A checkpoint in memory.
///
/// ```
/// use glifsim::checkpoint::Checkpoint;
/// use glifsim::{Backend, Model, Population, Simulator, StepOptions};
/// let pop = Population::builder(Model::Lif, 100).build()?;
/// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
/// let x = vec![40.0f32; 100 * 100];
/// sim.run(50, &x[..50 * 100], StepOptions::default())?;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("ck.glifsim");
/// Checkpoint::capture(&[("exc", &sim)])?.write_atomic(&path)?;
/// // Later, or in another process: restore and continue; the same as never stopping.
/// let mut resumed = Simulator::new(&pop, 1, Backend::Cpu)?;
/// Checkpoint::read(&path)?.restore(0, &mut resumed)?;
/// assert_eq!(
///     resumed.run(50, &x[50 * 100..], StepOptions::default())?,
///     sim.run(50, &x[50 * 100..], StepOptions::default())?
/// );
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Metadata.
    pub meta: Meta,
    /// State of every population.
    pub states: Vec<State<f32>>,
    /// Interspike statistics of every population (command-line runs).
    pub isi: Vec<Option<IsiStats>>,
}

/// A writer that keeps the CRC32 of everything written through it.
struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the body of a checkpoint (its bytes before the CRC) from `inner`, which holds
/// `remaining` of them, refusing any length that reaches past them before allocating for it.
struct Reader<'a, R: Read> {
    inner: R,
    remaining: u64,
    path: &'a Path,
}

impl<R: Read> Reader<'_, R> {
    fn truncated(&self) -> Error {
        Error::format(self.path, "checkpoint is truncated")
    }
    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        if self.remaining < buf.len() as u64 {
            return Err(self.truncated());
        }
        self.inner
            .read_exact(buf)
            .map_err(|e| Error::io(self.path, e))?;
        self.remaining -= buf.len() as u64;
        Ok(())
    }
    fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn byte(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.fill(&mut b)?;
        Ok(b[0])
    }
    /// The metadata: its length, then its JSON.
    fn meta(&mut self) -> Result<Meta> {
        let mut bytes = vec![0u8; self.len_of::<u8>()?];
        self.fill(&mut bytes)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(self.path, format!("checkpoint metadata: {e}")))
    }
    /// An array's length, checked against the bytes left.
    fn len_of<T>(&mut self) -> Result<usize> {
        let n = self.u64()?;
        match n.checked_mul(std::mem::size_of::<T>() as u64) {
            Some(bytes) if bytes <= self.remaining => Ok(n as usize),
            Some(_) => Err(self.truncated()),
            None => Err(Error::format(
                self.path,
                "checkpoint array length is corrupt",
            )),
        }
    }
    fn vec<T: bytemuck::Pod>(&mut self) -> Result<Vec<T>> {
        let n = self.len_of::<T>()?;
        let mut v = vec![T::zeroed(); n];
        self.fill(bytemuck::cast_slice_mut(&mut v))?;
        Ok(v)
    }
    /// An array of `expected` values, read a block at a time into `put(first index, block)`;
    /// another length is `inconsistent`.
    fn blocks<T: bytemuck::Pod>(
        &mut self,
        expected: usize,
        put: impl FnMut(usize, &[T]),
    ) -> Result<()> {
        if self.len_of::<T>()? != expected {
            return Err(Error::format(
                self.path,
                "checkpoint interspike statistics are inconsistent",
            ));
        }
        self.values(expected, put)
    }
    /// The `expected` values of an array whose length was read already, a block at a time
    /// into `put(first index, block)`.
    fn values<T: bytemuck::Pod>(
        &mut self,
        expected: usize,
        mut put: impl FnMut(usize, &[T]),
    ) -> Result<()> {
        let mut buf = vec![T::zeroed(); 8192.min(expected)];
        let mut i = 0;
        while i < expected {
            let k = buf.len().min(expected - i);
            self.fill(bytemuck::cast_slice_mut(&mut buf[..k]))?;
            put(i, &buf[..k]);
            i += k;
        }
        Ok(())
    }
}

/// A `put` for [`Reader::blocks`] that writes each value of a block into one field of the
/// interval records `p`, from the block's first index on.
fn into_field<'a, T: Copy>(
    p: &'a mut [crate::record::Isi],
    set: impl Fn(&mut crate::record::Isi, T) + 'a,
) -> impl FnMut(usize, &[T]) + 'a {
    move |i, b| {
        p[i..i + b.len()]
            .iter_mut()
            .zip(b)
            .for_each(|(x, &v)| set(x, v))
    }
}

/// Check a checkpoint's magic and format version, at the start of `src` (`len` bytes).
fn check_head(src: &mut impl Read, len: u64, path: &Path) -> Result<()> {
    let mut head = [0u8; 12];
    if len < 8 + 4 + 4 || src.read_exact(&mut head).is_err() || &head[..8] != MAGIC {
        return Err(Error::format(path, "not a glifsim checkpoint (bad magic)"));
    }
    let version = u32::from_le_bytes(head[8..12].try_into().unwrap());
    if version != VERSION {
        return Err(Error::format(
            path,
            format!("checkpoint format version {version}; this glifsim reads version {VERSION}"),
        ));
    }
    Ok(())
}

/// The CRC32 of the first `len` bytes of `r`, read a block at a time.
fn crc_of(r: &mut impl Read, len: u64, path: &Path) -> Result<u32> {
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let k = buf.len().min(left as usize);
        r.read_exact(&mut buf[..k])
            .map_err(|e| Error::io(path, e))?;
        h.update(&buf[..k]);
        left -= k as u64;
    }
    Ok(h.finalize())
}

/// Where the state of a population being written to a checkpoint comes from.
enum StateSource<'a> {
    /// A copy in memory ([`Checkpoint::states`]).
    Held(&'a State<f32>),
    /// The simulator itself, read a block at a time ([`Simulator::state_blocks`]).
    Live(&'a Simulator),
}

/// Values per block when a checkpoint reads a simulator's state, or fills one from a file
/// (16 MB of f32).
const STATE_BLOCK_VALUES: usize = 4 << 20;

/// Values in array `which` of `sim`'s state.
fn array_len(sim: &Simulator, which: StateArray) -> usize {
    which.per_neuron(sim.population()) * sim.population().len() * sim.trials()
}

impl StateSource<'_> {
    /// Values in array `which`.
    fn len(&self, which: StateArray) -> usize {
        match self {
            StateSource::Held(st) => st.array(which).len(),
            StateSource::Live(s) => array_len(s, which),
        }
    }
    /// Write array `which` as the checkpoint holds it: its length (u64), then its values.
    fn put(&self, which: StateArray, out: &mut dyn Write, path: &Path) -> Result<()> {
        let io = |e| Error::io(path, e);
        out.write_all(&(self.len(which) as u64).to_le_bytes())
            .map_err(io)?;
        match self {
            StateSource::Held(st) => out
                .write_all(bytemuck::cast_slice(st.array(which)))
                .map_err(io),
            StateSource::Live(s) => s.state_blocks(which, STATE_BLOCK_VALUES, &mut |piece| {
                out.write_all(bytemuck::cast_slice(piece)).map_err(io)
            }),
        }
    }
}

/// Write the file's bytes to `w`: metadata `meta`, each population's state from `states` and
/// its interspike statistics from `isi`, streamed: nothing but the metadata is built in
/// memory first, so a checkpoint of 10⁹ neurons costs no extra tens of GB. `path` names the
/// destination in errors.
fn encode(
    meta: &Meta,
    states: &[StateSource],
    isi: &[Option<&IsiStats>],
    w: &mut dyn Write,
    path: &Path,
) -> Result<()> {
    let io = |e| Error::io(path, e);
    let json = serde_json::to_vec(meta).expect("metadata serialises");
    let payload_len: u64 = states
        .iter()
        .zip(isi)
        .map(|(st, s)| {
            StateArray::ALL
                .iter()
                .map(|&a| 8 + 4 * st.len(a) as u64)
                .sum::<u64>()
                + 1
                + s.map_or(0, |s| s.parts_bytes())
        })
        .sum();
    let mut out = CrcWriter {
        inner: w,
        crc: crc32fast::Hasher::new(),
    };
    out.write_all(MAGIC).map_err(io)?;
    out.write_all(&VERSION.to_le_bytes()).map_err(io)?;
    out.write_all(&(json.len() as u64).to_le_bytes())
        .map_err(io)?;
    out.write_all(&json).map_err(io)?;
    out.write_all(&payload_len.to_le_bytes()).map_err(io)?;
    for (st, s) in states.iter().zip(isi) {
        for a in StateArray::ALL {
            st.put(a, &mut out, path)?;
        }
        match s {
            Some(s) => {
                out.write_all(&[1]).map_err(io)?;
                s.write_parts(&mut out).map_err(io)?;
            }
            None => out.write_all(&[0]).map_err(io)?,
        }
    }
    let crc = out.crc.finalize();
    out.inner.write_all(&crc.to_le_bytes()).map_err(io)
}

/// Write a checkpoint file atomically: to `path.tmp`, synced, then renamed over `path` (see
/// [`encode`] for the arguments).
fn write_atomic_file(
    path: &Path,
    meta: &Meta,
    states: &[StateSource],
    isi: &[Option<&IsiStats>],
) -> Result<()> {
    let tmp = path.with_extension("glifsim.tmp");
    let written = (|| {
        let f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        encode(meta, states, isi, &mut w, &tmp)?;
        let f = w
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))
    })();
    if let Err(e) = written {
        // The previous checkpoint, if any, is untouched; the partial file goes.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

impl Checkpoint {
    /// Capture named simulators (library use). All must have taken the same number of steps.
    /// This holds a copy of every state in memory; [`Checkpoint::write_from`] writes a file
    /// straight from the simulators instead.
    ///
    /// ```
    /// use glifsim::checkpoint::Checkpoint;
    /// use glifsim::{Backend, Model, Population, Simulator, StepOptions};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let a = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// let mut b = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// let ck = Checkpoint::capture(&[("a", &a), ("b", &b)])?;
    /// assert_eq!(ck.states.len(), 2);
    /// // Simulators at different steps cannot share a checkpoint.
    /// b.run(1, &[0.0; 10], StepOptions::default())?;
    /// assert!(Checkpoint::capture(&[("a", &a), ("b", &b)]).is_err());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn capture(sims: &[(&str, &Simulator)]) -> Result<Self> {
        let meta = Self::meta_of(sims)?;
        let states = sims
            .iter()
            .map(|(_, s)| s.state())
            .collect::<Result<Vec<_>>>()?;
        Ok(Checkpoint {
            meta,
            isi: vec![None; states.len()],
            states,
        })
    }

    /// The metadata of a checkpoint of named simulators (everything [`Checkpoint::capture`]
    /// records but the states): the step count, which all must share, and each population's
    /// model, size, trials, fingerprint and drive.
    ///
    /// ```
    /// use glifsim::checkpoint::Checkpoint;
    /// use glifsim::{input::Drive, Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// sim.set_drive(Drive { bias: 12.0.into(), ..Default::default() })?;
    /// let meta = Checkpoint::meta_of(&[("exc", &sim)])?;
    /// assert_eq!(meta.populations[0].drive.bias.at(0), 12.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn meta_of(sims: &[(&str, &Simulator)]) -> Result<Meta> {
        let steps = sims.first().map_or(0, |(_, s)| s.steps_done());
        if let Some((name, s)) = sims.iter().find(|(_, s)| s.steps_done() != steps) {
            return Err(Error::Usage(format!(
                "population '{name}' is at step {} but the first at step {steps}",
                s.steps_done()
            )));
        }
        let populations = sims
            .iter()
            .map(|(name, s)| {
                let p = s.population();
                PopulationMeta {
                    name: name.to_string(),
                    model: p.model().name().into(),
                    neurons: p.len(),
                    trials: s.trials(),
                    fingerprint: p.fingerprint(),
                    drive: s.drive().clone(),
                    recorder: None,
                }
            })
            .collect();
        Ok(Meta {
            glifsim: env!("CARGO_PKG_VERSION").into(),
            steps,
            noise_generator: crate::noise::NOISE_GENERATOR,
            spec: None,
            spec_dir: None,
            populations,
        })
    }

    /// Write a checkpoint of `sims` with metadata `meta` (from [`Checkpoint::meta_of`], perhaps
    /// amended) and interspike statistics `isi` (one per population), atomically as
    /// [`Checkpoint::write_atomic`] does, its states read from the simulators a block at a
    /// time ([`Simulator::state_blocks`]): the host holds no copy of any state, where
    /// [`Checkpoint::capture`] holds all of them (8 bytes per LIF neuron and trial, 24 per
    /// GLIF5 neuron). The file is byte for byte the one `capture` and `write_atomic_with`
    /// would write.
    ///
    /// ```
    /// use glifsim::checkpoint::Checkpoint;
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 200).build()?;
    /// let sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// let named = [("exc", &sim)];
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("run.glifsim");
    /// Checkpoint::write_from(&path, &Checkpoint::meta_of(&named)?, &[&sim], &[None])?;
    /// assert_eq!(Checkpoint::read(&path)?, Checkpoint::capture(&named)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_from(
        path: &Path,
        meta: &Meta,
        sims: &[&Simulator],
        isi: &[Option<&IsiStats>],
    ) -> Result<()> {
        let pops = &meta.populations;
        if sims.len() != pops.len() || isi.len() != pops.len() {
            return Err(Error::Usage(format!(
                "{} simulators and {} populations' statistics for a checkpoint of {} populations",
                sims.len(),
                isi.len(),
                pops.len()
            )));
        }
        for (m, s) in pops.iter().zip(sims) {
            m.check_shape(s)?;
        }
        let states: Vec<StateSource> = sims.iter().map(|&s| StateSource::Live(s)).collect();
        write_atomic_file(path, meta, &states, isi)
    }

    /// Restore population `index` into `sim` (state, step count, drive), after checking that
    /// it is the same population: model, size, trials and parameters. Nothing changes on error.
    ///
    /// ```
    /// use glifsim::checkpoint::Checkpoint;
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// let ck = Checkpoint::capture(&[("exc", &sim)])?;
    /// // Another population (τ_m differs) is refused, and the simulator is left as it was.
    /// let other = Population::builder(Model::Lif, 10).tau_m(30.0).build()?;
    /// let mut wrong = Simulator::new(&other, 1, Backend::Cpu)?;
    /// assert!(ck.restore(0, &mut wrong).is_err());
    /// assert_eq!(wrong.steps_done(), 0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn restore(&self, index: usize, sim: &mut Simulator) -> Result<()> {
        self.check_restore(index, sim)?;
        sim.set_drive(self.meta.populations[index].drive.clone())?;
        sim.set_state(&self.states[index])?;
        sim.set_steps_done(self.meta.steps);
        Ok(())
    }

    /// [`Checkpoint::restore`], then release population `index`'s state from this checkpoint:
    /// a CPU simulator takes the arrays without a copy, and a GPU simulator's upload is
    /// followed by freeing them, so that restoring a large run does not hold its state twice,
    /// nor keep the checkpoint's copy for the rest of the run (`glifsim resume` restores this
    /// way). Afterwards `self.states[index]` is empty; on error nothing changes.
    ///
    /// ```
    /// use glifsim::checkpoint::Checkpoint;
    /// use glifsim::{Backend, Model, Population, Simulator, StepOptions};
    /// let pop = Population::builder(Model::Lif, 100).build()?;
    /// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// sim.run(10, &vec![30.0; 1_000], StepOptions::default())?;
    /// let mut ck = Checkpoint::capture(&[("exc", &sim)])?;
    /// let mut again = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// ck.restore_and_release(0, &mut again)?;
    /// assert_eq!(again.state()?, sim.state()?);
    /// assert!(ck.states[0].v.is_empty());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn restore_and_release(&mut self, index: usize, sim: &mut Simulator) -> Result<()> {
        self.check_restore(index, sim)?;
        sim.set_drive(self.meta.populations[index].drive.clone())?;
        let st = std::mem::take(&mut self.states[index]);
        match sim {
            // Checked above (`check_restore`): the CPU path's own check passes.
            Simulator::Cpu(s) => s.set_state(st)?,
            Simulator::Gpu(s) => {
                if let Err(e) = s.set_state(&st) {
                    self.states[index] = st;
                    return Err(e);
                }
            }
        }
        sim.set_steps_done(self.meta.steps);
        Ok(())
    }

    /// That population `index` of this checkpoint can be restored into `sim`: the same model,
    /// size, trials and parameters, a valid drive drawn by this glifsim's noise generator, and
    /// a state of the right shape with finite values.
    fn check_restore(&self, index: usize, sim: &Simulator) -> Result<()> {
        self.meta.check_restore(index, sim)?;
        self.states[index].check(sim.trials(), sim.population())
    }

    /// Serialize.
    ///
    /// ```
    /// use glifsim::checkpoint::Checkpoint;
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let ck = Checkpoint::capture(&[("exc", &Simulator::new(&pop, 1, Backend::Cpu)?)])?;
    /// let bytes = ck.to_bytes();
    /// assert_eq!(Checkpoint::from_bytes(&bytes, "mem".as_ref())?, ck);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let isi: Vec<Option<&IsiStats>> = self.isi.iter().map(Option::as_ref).collect();
        encode(
            &self.meta,
            &self.held(),
            &isi,
            &mut out,
            Path::new("memory"),
        )
        .expect("writing held states to memory cannot fail");
        out
    }

    /// The states this checkpoint holds, as sources to write from.
    fn held(&self) -> Vec<StateSource<'_>> {
        self.states.iter().map(StateSource::Held).collect()
    }

    /// Parse, checking magic, version, lengths and checksum; `path` names the source.
    ///
    /// ```
    /// use glifsim::checkpoint::Checkpoint;
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let mut bytes = Checkpoint::capture(&[("exc", &Simulator::new(&pop, 1, Backend::Cpu)?)])?.to_bytes();
    /// let last = bytes.len() - 10;
    /// bytes[last] ^= 1; // one flipped bit
    /// let e = Checkpoint::from_bytes(&bytes, "ck.glifsim".as_ref()).unwrap_err();
    /// assert!(e.to_string().contains("ck.glifsim"), "{e}");
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn from_bytes(data: &[u8], path: &Path) -> Result<Self> {
        Self::parse(std::io::Cursor::new(data), data.len() as u64, path, None)
    }

    /// Parse `len` bytes from `src` in two passes, so that neither the file nor a copy of its
    /// arrays is held in memory besides what it describes: the magic, version and CRC first
    /// (a damaged file is refused as damaged before anything in it is believed), then the
    /// contents, each array read straight into its place.
    ///
    /// With `into`, the states go straight into those simulators (one per population, each
    /// checked as [`Checkpoint::restore`] checks it, then given the drive, the state and the
    /// step count) instead of into the checkpoint, whose states are then left empty.
    fn parse<S: Read + Seek>(
        mut src: S,
        len: u64,
        path: &Path,
        mut into: Option<&mut [Simulator]>,
    ) -> Result<Self> {
        let io = |e| Error::io(path, e);
        check_head(&mut src, len, path)?;
        src.seek(SeekFrom::Start(0)).map_err(io)?;
        let body_len = len - 4;
        let got = crc_of(&mut src, body_len, path)?;
        let mut crc = [0u8; 4];
        src.read_exact(&mut crc).map_err(io)?;
        if got != u32::from_le_bytes(crc) {
            return Err(Error::format(
                path,
                "checkpoint checksum mismatch: the file is truncated or corrupted",
            ));
        }
        src.seek(SeekFrom::Start(12)).map_err(io)?;
        let mut r = Reader {
            inner: std::io::BufReader::with_capacity(1 << 20, src),
            remaining: body_len - 12,
            path,
        };
        let meta = r.meta()?;
        let payload_len = r.u64()?;
        if r.remaining != payload_len {
            return Err(Error::format(path, "checkpoint payload length is wrong"));
        }
        if let Some(sims) = &into {
            if sims.len() != meta.populations.len() {
                return Err(Error::Usage(format!(
                    "{} simulators for a checkpoint of {} populations",
                    sims.len(),
                    meta.populations.len()
                )));
            }
        }
        let mut states = Vec::new();
        let mut isi = Vec::new();
        for i in 0..meta.populations.len() {
            match into.as_deref_mut() {
                None => states.push(State {
                    v: r.vec()?,
                    r: r.vec()?,
                    theta: r.vec()?,
                    asc: r.vec()?,
                }),
                Some(sims) => {
                    let sim = &mut sims[i];
                    meta.check_restore(i, sim)?;
                    sim.set_drive(meta.populations[i].drive.clone())?;
                    for which in StateArray::ALL {
                        if r.len_of::<f32>()? != array_len(sim, which) {
                            return Err(Error::format(
                                path,
                                format!(
                                    "checkpoint population '{}': its state is not of its model and size",
                                    meta.populations[i].name
                                ),
                            ));
                        }
                        sim.set_state_blocks(which, STATE_BLOCK_VALUES, &mut |block| {
                            r.fill(bytemuck::cast_slice_mut(block))
                        })?;
                    }
                    sim.set_steps_done(meta.steps);
                    states.push(State::default());
                }
            }
            let flag = r.byte()?;
            if flag > 1 {
                return Err(Error::format(
                    path,
                    format!("checkpoint statistics flag is {flag}, expected 0 or 1"),
                ));
            }
            isi.push(if flag == 1 {
                // The four arrays go straight into the records, a block at a time; the first
                // one's length is the records' count.
                let n = r.len_of::<u64>()?;
                let mut s = IsiStats::new(n);
                let p = s.pairs_mut();
                r.values(n, into_field(p, |x, v: u64| x.last = v))?;
                r.blocks(n, into_field(p, |x, v: u32| x.count = v))?;
                r.blocks(n, into_field(p, |x, v: f64| x.sum = v))?;
                r.blocks(n, into_field(p, |x, v: f64| x.sumsq = v))?;
                Some(s)
            } else {
                None
            });
        }
        if r.remaining != 0 {
            return Err(Error::format(path, "checkpoint has trailing bytes"));
        }
        Ok(Checkpoint { meta, states, isi })
    }

    /// Write atomically: to `path.tmp`, synced, then renamed over `path`.
    ///
    /// ```
    /// use glifsim::checkpoint::Checkpoint;
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let ck = Checkpoint::capture(&[("exc", &Simulator::new(&pop, 1, Backend::Cpu)?)])?;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("ck.glifsim");
    /// ck.write_atomic(&path)?;
    /// assert!(!dir.path().join("ck.glifsim.tmp").exists());
    /// assert_eq!(Checkpoint::read(&path)?, ck);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn write_atomic(&self, path: &Path) -> Result<()> {
        let isi: Vec<Option<&IsiStats>> = self.isi.iter().map(Option::as_ref).collect();
        self.write_atomic_with(path, &isi)
    }

    /// [`Checkpoint::write_atomic`] with the interspike statistics of each population given
    /// by reference instead of held (`self.isi` is not read): a run's recorders keep theirs,
    /// 32 bytes per neuron and trial, without a copy for every checkpoint.
    ///
    /// ```
    /// use glifsim::checkpoint::Checkpoint;
    /// use glifsim::record::IsiStats;
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let ck = Checkpoint::capture(&[("exc", &Simulator::new(&pop, 1, Backend::Cpu)?)])?;
    /// let mut isi = IsiStats::new(10);
    /// isi.spike(3, 7);
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("ck.glifsim");
    /// ck.write_atomic_with(&path, &[Some(&isi)])?;
    /// assert_eq!(Checkpoint::read(&path)?.isi, vec![Some(isi)]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn write_atomic_with(&self, path: &Path, isi: &[Option<&IsiStats>]) -> Result<()> {
        if isi.len() != self.states.len() {
            return Err(Error::Usage(format!(
                "{} populations' statistics for a checkpoint of {}",
                isi.len(),
                self.states.len()
            )));
        }
        write_atomic_file(path, &self.meta, &self.held(), isi)
    }

    /// Read and check a checkpoint file (streamed: see [`Checkpoint::from_bytes`]).
    ///
    /// ```
    /// use glifsim::checkpoint::Checkpoint;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("not-a-checkpoint");
    /// std::fs::write(&path, b"hello").unwrap();
    /// assert!(Checkpoint::read(&path).is_err());
    /// assert!(Checkpoint::read(&dir.path().join("missing")).is_err());
    /// ```
    pub fn read(path: &Path) -> Result<Self> {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        Self::parse(f, len, path, None)
    }

    /// The metadata of a checkpoint file, read without its arrays (and without checking its
    /// checksum, which [`Checkpoint::read_into`] checks before it believes any array): what
    /// `glifsim resume` builds its simulators from.
    pub(crate) fn read_meta(path: &Path) -> Result<Meta> {
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        check_head(&mut f, len, path)?;
        let mut r = Reader {
            inner: std::io::BufReader::new(f),
            remaining: len - 12 - 4,
            path,
        };
        r.meta()
    }

    /// Read a checkpoint file with each population's state going straight into `sims` (one
    /// per population, freshly built: each is checked, then given the drive, the state a
    /// block at a time and the step count), so that no copy of any state is held on the host
    /// (8 GB at 10⁹ LIF neurons). The checkpoint returned holds the metadata and interval
    /// statistics, its states empty. On an error a simulator may be partly restored: discard
    /// them (`glifsim resume` restores this way).
    pub(crate) fn read_into(path: &Path, sims: &mut [Simulator]) -> Result<Self> {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        Self::parse(f, len, path, Some(sims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::{GpuContext, GpuSim, MIN_BINDING_LIMIT};
    use crate::{Backend, CpuSim, Model, StepOptions};

    /// A GPU context with the smallest binding limit (so that a few thousand neurons are many
    /// shards), where an adapter exists; none (said so) where none does, unless
    /// `GLIFSIM_REQUIRE_GPU=1`.
    fn small_gpu() -> Option<std::sync::Arc<GpuContext>> {
        let name = std::env::var("GLIFSIM_ADAPTER").ok();
        match GpuContext::with_binding_limit(name.as_deref(), MIN_BINDING_LIMIT) {
            Ok(c) => Some(std::sync::Arc::new(c)),
            Err(e) if std::env::var("GLIFSIM_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
                panic!("GLIFSIM_REQUIRE_GPU=1 but no GPU adapter could be opened: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED (GPU part): no GPU adapter ({e})");
                None
            }
        }
    }

    #[test]
    fn read_into_fills_fresh_simulators_block_by_block() {
        // GLIF5 with every parameter per neuron (θ_1, θ_v and two currents interleaved in the
        // file, planes on the device), two trials, noise, 41 steps (inside a quad of steps,
        // many neurons refractory);
        // read straight into a CPU simulator and a GPU one of many shards, each equals the
        // checkpoint's state and continues as the original does, bit for bit.
        let n = 12_000;
        let pop = crate::bench::bench_population_with(Model::Glif5, n, true).unwrap();
        let drive = crate::input::Drive {
            bias: 100.0.into(),
            ..crate::bench::noise_drive()
        };
        let mut sims = vec![Simulator::new(&pop, 2, Backend::Cpu).unwrap()];
        let gpu = small_gpu();
        if let Some(ctx) = &gpu {
            let opts = crate::gpu::GpuOptions {
                host_inputs: false,
                ..Default::default()
            };
            let g = GpuSim::with_drive(ctx.clone(), &pop, 2, &drive, &opts).unwrap();
            assert!(g.shard_count() >= 4, "{} shards", g.shard_count());
            sims.push(Simulator::Gpu(g));
            if let Simulator::Cpu(c) = &mut sims[0] {
                c.set_arith(ctx.arith());
            }
        }
        let arith = sims.last().unwrap().arith();
        let mut orig = Simulator::Cpu(CpuSim::new(&pop, 2, arith).unwrap());
        orig.set_drive(drive.clone()).unwrap();
        let o = StepOptions::default();
        orig.run_driven_with(41, o, |_, _| Ok(())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let named = [("exc", &orig)];
        Checkpoint::write_from(
            &path,
            &Checkpoint::meta_of(&named).unwrap(),
            &[&orig],
            &[None],
        )
        .unwrap();
        let want = Checkpoint::read(&path).unwrap();
        let refractory = want.states[0].r.iter().filter(|&&r| r > 0.0).count();
        assert!(refractory > 1000, "{refractory} refractory neurons");
        let continued =
            crate::SpikeRecord::collect(2, n, |sink| orig.run_driven_with(20, o, sink)).unwrap();
        for sim in sims {
            let mut one = [sim];
            let got = Checkpoint::read_into(&path, &mut one).unwrap();
            let [mut sim] = one;
            let who = sim.device_name();
            assert_eq!(got.meta, want.meta);
            assert!(got.states[0].v.is_empty());
            assert_eq!(sim.state().unwrap(), want.states[0], "{who}");
            assert_eq!(sim.steps_done(), 41);
            let rec =
                crate::SpikeRecord::collect(2, n, |sink| sim.run_driven_with(20, o, sink)).unwrap();
            assert_eq!(rec, continued, "{who}");
        }
    }

    #[test]
    fn read_into_refuses_a_bad_state_and_a_wrong_population() {
        let pop = crate::bench::bench_population(Model::Alif, 100).unwrap();
        let sim = Simulator::new(&pop, 1, Backend::Cpu).unwrap();
        let mut ck = Checkpoint::capture(&[("a", &sim)]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        // A NaN in θ, in a file whose checksum is right: named with its index.
        ck.states[0].theta[42] = f32::NAN;
        ck.write_atomic(&path).unwrap();
        let mut fresh = [Simulator::new(&pop, 1, Backend::Cpu).unwrap()];
        match Checkpoint::read_into(&path, &mut fresh) {
            Err(Error::NonFinite { what, index, .. }) => {
                assert_eq!((what.as_str(), index), ("state.theta", 42))
            }
            other => panic!("expected NonFinite, got {other:?}"),
        }
        // A negative refractory time.
        ck.states[0].theta[42] = 0.0;
        ck.states[0].r[7] = -1.0;
        ck.write_atomic(&path).unwrap();
        assert!(matches!(
            Checkpoint::read_into(&path, &mut fresh),
            Err(Error::InvalidParameter { index: Some(7), .. })
        ));
        // Another population, or another number of simulators.
        ck.states[0].r[7] = 0.0;
        ck.write_atomic(&path).unwrap();
        let other = crate::bench::bench_population(Model::Alif, 101).unwrap();
        let mut wrong = [Simulator::new(&other, 1, Backend::Cpu).unwrap()];
        assert!(Checkpoint::read_into(&path, &mut wrong).is_err());
        assert!(Checkpoint::read_into(&path, &mut []).is_err());
        assert!(Checkpoint::read_into(&path, &mut fresh).is_ok());
    }
}
