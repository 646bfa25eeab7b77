//! Recording to disk as a run goes: spikes, traces, per-step counts and the summary.
//!
//! Every array is an NPY file whose header is rewritten after each chunk, so a file always
//! opens (with numpy or [`read_npy_f64`](crate::spec::read_npy_f64)) and holds every completed
//! step, even after an error or Ctrl-C.
//!
//! ```
//! use glifsim::record::{read_npy_u32, NpyStream};
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("counts.npy");
//! let mut s = NpyStream::create(&path, "<u4", &[])?; // rows of one u32
//! s.append(bytemuck::cast_slice(&[3u32, 1, 4]), 3)?;
//! s.commit()?; // the file is valid NPY now, holding 3 rows
//! s.append(bytemuck::cast_slice(&[1u32, 5]), 2)?;
//! s.commit()?;
//! assert_eq!(read_npy_u32(&path)?, (vec![5], vec![3, 1, 4, 1, 5]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::frame::{bits_to_indices, bits_to_indices_into, words_per_trial};
use rayon::prelude::*;

/// Bytes reserved for the NPY header, so it can be rewritten in place as the array grows.
const HEADER_LEN: usize = 128;

/// Bytes in one row of `row_shape` values of `descr`, a little-endian integer or float dtype
/// (`<u4`, `<i8`, `<f4`, …): what an [`NpyStream`] writes.
fn row_bytes(path: &Path, descr: &str, row_shape: &[usize]) -> Result<u64> {
    let item = match descr.as_bytes() {
        [b'<', b'u' | b'i', s @ (b'1' | b'2' | b'4' | b'8')] | [b'<', b'f', s @ (b'2' | b'4' | b'8')] => {
            u64::from(s - b'0')
        }
        _ => {
            return Err(Error::Usage(format!(
                "{}: unsupported dtype {descr} (expected a little-endian integer or float, such as <u4 or <f8)",
                path.display()
            )))
        }
    };
    Ok(item * row_shape.iter().product::<usize>() as u64)
}

/// An NPY file of a fixed row shape that grows along its first axis.
///
/// ```
/// use glifsim::record::{read_npy_u32, NpyStream};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("counts.npy");
/// let mut s = NpyStream::create(&path, "<u4", &[2])?; // rows of two u32
/// s.append(bytemuck::cast_slice(&[1u32, 2, 3, 4]), 2)?;
/// s.commit()?; // the header now says shape (2, 2)
/// let (shape, data) = read_npy_u32(&path)?;
/// assert_eq!((shape, data), (vec![2, 2], vec![1, 2, 3, 4]));
/// # Ok::<(), glifsim::Error>(())
/// ```
pub struct NpyStream {
    file: BufWriter<File>,
    path: PathBuf,
    descr: &'static str,
    row_shape: Vec<usize>,
    /// Bytes per row.
    row_bytes: u64,
    rows: u64,
}

impl NpyStream {
    /// Create `path` holding rows of `row_shape` values of `descr`, a little-endian integer
    /// or float dtype (`<u4`, `<i8`, `<f4`, …).
    ///
    /// ```
    /// use glifsim::record::NpyStream;
    /// let dir = tempfile::tempdir().unwrap();
    /// let s = NpyStream::create(&dir.path().join("v.npy"), "<f4", &[3, 10])?;
    /// assert_eq!(s.rows(), 0);
    /// assert!(NpyStream::create(&dir.path().join("x.npy"), ">u4", &[]).is_err()); // big-endian
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn create(path: &Path, descr: &'static str, row_shape: &[usize]) -> Result<Self> {
        let row_bytes = row_bytes(path, descr, row_shape)?;
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut s = NpyStream {
            file: BufWriter::new(file),
            path: path.to_path_buf(),
            descr,
            row_shape: row_shape.to_vec(),
            row_bytes,
            rows: 0,
        };
        s.write_header()?;
        Ok(s)
    }

    fn header(&self) -> Vec<u8> {
        let mut shape = format!("({}", self.rows);
        for d in &self.row_shape {
            shape.push_str(&format!(", {d}"));
        }
        if self.row_shape.is_empty() {
            shape.push(',');
        }
        shape.push(')');
        let dict = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
            self.descr, shape
        );
        let mut h = b"\x93NUMPY\x01\x00".to_vec();
        let body_len = HEADER_LEN - 10;
        h.extend_from_slice(&(body_len as u16).to_le_bytes());
        h.extend_from_slice(dict.as_bytes());
        h.resize(HEADER_LEN - 1, b' ');
        h.push(b'\n');
        h
    }

    fn write_header(&mut self) -> Result<()> {
        let h = self.header();
        let path = self.path.clone();
        let io = |e| Error::io(&path, e);
        self.file.seek(SeekFrom::Start(0)).map_err(io)?;
        self.file.write_all(&h).map_err(io)?;
        self.file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok(())
    }

    /// [`NpyStream::create`] (`rows` = None) or [`NpyStream::reopen`] at `rows` rows.
    ///
    /// ```
    /// use glifsim::record::NpyStream;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("steps.npy");
    /// let mut s = NpyStream::open(&path, "<u8", &[], None)?; // a new file
    /// s.append(&7u64.to_le_bytes(), 1)?;
    /// s.commit()?;
    /// let s = NpyStream::open(&path, "<u8", &[], Some(1))?; // reopened at one row
    /// assert_eq!(s.rows(), 1);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn open(
        path: &Path,
        descr: &'static str,
        row_shape: &[usize],
        rows: Option<u64>,
    ) -> Result<Self> {
        match rows {
            None => Self::create(path, descr, row_shape),
            Some(r) => Self::reopen(path, descr, row_shape, r),
        }
    }

    /// Reopen an existing stream written by [`NpyStream::create`], keeping its first `rows`
    /// rows (anything after them is cut off) and appending from there.
    ///
    /// ```
    /// use glifsim::record::{read_npy_u32, NpyStream};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("counts.npy");
    /// let mut s = NpyStream::create(&path, "<u4", &[])?;
    /// s.append(bytemuck::cast_slice(&[5u32, 6, 7]), 3)?;
    /// s.commit()?;
    /// // A checkpoint taken after two rows: the third is cut off, and appending goes on from there.
    /// let mut s = NpyStream::reopen(&path, "<u4", &[], 2)?;
    /// s.append(bytemuck::cast_slice(&[9u32]), 1)?;
    /// s.commit()?;
    /// assert_eq!(read_npy_u32(&path)?.1, vec![5, 6, 9]);
    /// // More rows than the file holds: an error.
    /// assert!(NpyStream::reopen(&path, "<u4", &[], 10).is_err());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn reopen(
        path: &Path,
        descr: &'static str,
        row_shape: &[usize],
        rows: u64,
    ) -> Result<Self> {
        let row_bytes = row_bytes(path, descr, row_shape)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let want = HEADER_LEN as u64 + rows * row_bytes;
        let have = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if have < want {
            return Err(Error::format(
                path,
                format!("holds {have} bytes, fewer than the {rows} rows the checkpoint recorded"),
            ));
        }
        file.set_len(want).map_err(|e| Error::io(path, e))?;
        let mut s = NpyStream {
            file: BufWriter::new(file),
            path: path.to_path_buf(),
            descr,
            row_shape: row_shape.to_vec(),
            row_bytes,
            rows,
        };
        s.write_header()?;
        Ok(s)
    }

    /// Append rows (raw little-endian bytes of whole rows). Bytes that are not `rows` whole
    /// rows are an error, and nothing is written.
    ///
    /// ```
    /// use glifsim::record::NpyStream;
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut s = NpyStream::create(&dir.path().join("a.npy"), "<u4", &[3])?;
    /// s.append(&[0u8; 24], 2)?;
    /// assert!(s.append(&[0u8; 8], 1).is_err()); // not a row of 12 bytes
    /// assert_eq!(s.rows(), 2);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn append(&mut self, bytes: &[u8], rows: u64) -> Result<()> {
        let row_bytes = self.row_bytes;
        if bytes.len() as u64 != rows * row_bytes {
            return Err(Error::Usage(format!(
                "{}: {} bytes are not {rows} rows of {row_bytes} bytes",
                self.path.display(),
                bytes.len()
            )));
        }
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        self.rows += rows;
        Ok(())
    }

    /// Make everything appended so far durable and visible: data first, then the header.
    ///
    /// ```
    /// use glifsim::record::{read_npy_u32, NpyStream};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("a.npy");
    /// let mut s = NpyStream::create(&path, "<u4", &[])?;
    /// s.append(&1u32.to_le_bytes(), 1)?;
    /// assert_eq!(read_npy_u32(&path)?.0, vec![0]); // not committed: the header says no rows yet
    /// s.commit()?;
    /// assert_eq!(read_npy_u32(&path)?.0, vec![1]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn commit(&mut self) -> Result<()> {
        let path = self.path.clone();
        self.file.flush().map_err(|e| Error::io(&path, e))?;
        self.write_header()?;
        self.file.flush().map_err(|e| Error::io(&path, e))?;
        Ok(())
    }

    /// Rows written.
    ///
    /// ```
    /// use glifsim::record::NpyStream;
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut s = NpyStream::create(&dir.path().join("a.npy"), "<f8", &[])?;
    /// s.append(&[0u8; 16], 2)?;
    /// assert_eq!(s.rows(), 2);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

/// Per-neuron interspike-interval statistics, for the coefficient of variation.
///
/// ```
/// use glifsim::record::IsiStats;
/// let mut isi = IsiStats::new(1);
/// for step in [10, 20, 30, 40] {
///     isi.spike(0, step); // regular: intervals of 10, 10, 10
/// }
/// assert_eq!(isi.mean_cv(), Some(0.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct IsiStats {
    /// One record per (trial, neuron), its four fields together (32 bytes): a spike touches
    /// one cache line instead of one in each of four arrays.
    pairs: Vec<Isi>,
}

/// The statistics of one (trial, neuron).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Isi {
    /// Step of the last spike.
    pub(crate) last: u64,
    /// Sum and sum of squares of the intervals (steps).
    pub(crate) sum: f64,
    pub(crate) sumsq: f64,
    /// Spikes.
    pub(crate) count: u32,
}

impl Isi {
    #[inline]
    fn spike(&mut self, step: u64) {
        if self.count > 0 {
            let isi = (step - self.last) as f64;
            self.sum += isi;
            self.sumsq += isi * isi;
        }
        self.count += 1;
        self.last = step;
    }
}

impl IsiStats {
    /// For `len` (trial, neuron) pairs.
    ///
    /// ```
    /// use glifsim::record::IsiStats;
    /// let isi = IsiStats::new(2 * 1000); // 2 trials × 1000 neurons
    /// assert_eq!(isi.mean_cv(), None); // no spikes yet
    /// ```
    pub fn new(len: usize) -> Self {
        IsiStats {
            pairs: vec![Isi::default(); len],
        }
    }
    /// The raw arrays (last spike step, spike count, sum and sum of squares of intervals).
    ///
    /// ```
    /// use glifsim::record::IsiStats;
    /// let mut isi = IsiStats::new(2);
    /// isi.spike(1, 5);
    /// isi.spike(1, 9);
    /// let (last, count, sum, sumsq) = isi.parts();
    /// assert_eq!((last, count, sum, sumsq), (vec![0, 9], vec![0, 2], vec![0.0, 4.0], vec![0.0, 16.0]));
    /// ```
    pub fn parts(&self) -> (Vec<u64>, Vec<u32>, Vec<f64>, Vec<f64>) {
        let p = &self.pairs;
        (
            p.iter().map(|x| x.last).collect(),
            p.iter().map(|x| x.count).collect(),
            p.iter().map(|x| x.sum).collect(),
            p.iter().map(|x| x.sumsq).collect(),
        )
    }
    /// Write [`Self::parts`] as a checkpoint holds them, each array as its length (u64) and
    /// its values (little-endian), a block of records at a time, without building the arrays
    /// (at 10⁹ neurons they would be 28 GB more).
    ///
    /// ```
    /// use glifsim::record::IsiStats;
    /// let mut isi = IsiStats::new(3);
    /// isi.spike(0, 1);
    /// let mut bytes = Vec::new();
    /// isi.write_parts(&mut bytes).unwrap();
    /// assert_eq!(bytes.len() as u64, isi.parts_bytes());
    /// assert_eq!(&bytes[..8], &3u64.to_le_bytes()); // each array starts with its length
    /// ```
    pub fn write_parts(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        const BLOCK: usize = 8192;
        let mut buf: Vec<u8> = Vec::with_capacity(BLOCK * 8);
        let fields: [fn(&Isi, &mut Vec<u8>); 4] = [
            |x, b| b.extend_from_slice(&x.last.to_le_bytes()),
            |x, b| b.extend_from_slice(&x.count.to_le_bytes()),
            |x, b| b.extend_from_slice(&x.sum.to_le_bytes()),
            |x, b| b.extend_from_slice(&x.sumsq.to_le_bytes()),
        ];
        for put in fields {
            w.write_all(&(self.pairs.len() as u64).to_le_bytes())?;
            for block in self.pairs.chunks(BLOCK) {
                buf.clear();
                for x in block {
                    put(x, &mut buf);
                }
                w.write_all(&buf)?;
            }
        }
        Ok(())
    }
    /// The records, for a checkpoint's reader to fill.
    pub(crate) fn pairs_mut(&mut self) -> &mut [Isi] {
        &mut self.pairs
    }
    /// Bytes [`Self::write_parts`] writes.
    ///
    /// ```
    /// use glifsim::record::IsiStats;
    /// assert_eq!(IsiStats::new(10).parts_bytes(), 32 + 10 * 28);
    /// ```
    pub fn parts_bytes(&self) -> u64 {
        4 * 8 + self.pairs.len() as u64 * (8 + 4 + 8 + 8)
    }
    /// Rebuild from [`Self::parts`]; None when the lengths differ.
    ///
    /// ```
    /// use glifsim::record::IsiStats;
    /// let mut isi = IsiStats::new(2);
    /// isi.spike(0, 3);
    /// let (a, b, c, d) = isi.parts();
    /// assert_eq!(IsiStats::from_parts(a.clone(), b.clone(), c.clone(), d.clone()), Some(isi));
    /// assert_eq!(IsiStats::from_parts(a, b, c, vec![]), None); // lengths differ
    /// ```
    pub fn from_parts(
        last: Vec<u64>,
        count: Vec<u32>,
        sum: Vec<f64>,
        sumsq: Vec<f64>,
    ) -> Option<Self> {
        let n = last.len();
        (count.len() == n && sum.len() == n && sumsq.len() == n).then(|| IsiStats {
            pairs: (0..n)
                .map(|i| Isi {
                    last: last[i],
                    sum: sum[i],
                    sumsq: sumsq[i],
                    count: count[i],
                })
                .collect(),
        })
    }
    /// A spike of pair `i` at global step `step`.
    ///
    /// ```
    /// use glifsim::record::IsiStats;
    /// let mut isi = IsiStats::new(1);
    /// for step in [0, 10, 30] {
    ///     isi.spike(0, step); // intervals 10 and 20
    /// }
    /// let (_, count, sum, _) = isi.parts();
    /// assert_eq!((count[0], sum[0]), (3, 30.0));
    /// ```
    #[inline]
    pub fn spike(&mut self, i: usize, step: u64) {
        self.pairs[i].spike(step);
    }
    /// Take the spikes of the words of steps `step0 ..` (`[t][B][W]`, `trials` × `n`
    /// neurons), the neurons cut into one block per thread, each block walked step by step;
    /// each neuron's intervals are summed in step order, as [`IsiStats::spike`] would. (At 1M
    /// neurons and 1,665 spikes per step, on the 2-core development machine: 16–21 µs per step
    /// against 28–32 µs for the loop of `spike` calls.)
    ///
    /// ```
    /// use glifsim::record::IsiStats;
    /// // Two steps of one trial of 40 neurons ([t][B][W], two words per step): neuron 33 fires in
    /// // both, neuron 0 in the second.
    /// let words = [0u32, 1 << 1, 1, 1 << 1];
    /// let mut isi = IsiStats::new(40);
    /// isi.spikes_in(100, &words, 1, 40);
    /// let (last, count, _, _) = isi.parts();
    /// assert_eq!((count[33], last[33], count[0], last[0]), (2, 101, 1, 101));
    /// ```
    pub fn spikes_in(&mut self, step0: u64, words: &[u32], trials: usize, n: usize) {
        // Blocks of at least 1,024 words: rows walked in long runs are what the hardware
        // prefetches best (measured on Zen 4 at 1M neurons: blocks of 64 words took twice as
        // long as whole rows on one thread).
        let block_words = words_per_trial(n)
            .div_ceil(rayon::current_num_threads())
            .max(1024);
        self.spikes_in_blocks(step0, words, trials, n, block_words);
    }
    fn spikes_in_blocks(
        &mut self,
        step0: u64,
        words: &[u32],
        trials: usize,
        n: usize,
        block_words: usize,
    ) {
        let w = words_per_trial(n);
        let fw = trials * w;
        let steps = words.len() / fw;
        debug_assert_eq!(self.pairs.len(), trials * n);
        self.pairs
            .par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(b, trial)| {
                trial
                    .par_chunks_mut(block_words * 32)
                    .enumerate()
                    .for_each(|(k, block)| {
                        let (w0, w1) = (k * block_words, ((k + 1) * block_words).min(w));
                        let mut fired = Vec::new();
                        for t in 0..steps {
                            let row = &words[t * fw + b * w + w0..t * fw + b * w + w1];
                            // The spikes first, then their records: kept apart, the records'
                            // loads overlap instead of waiting behind the bit loop's branches.
                            fired.clear();
                            bits_to_indices_into(row, &mut fired);
                            for &i in &fired {
                                // (A bit past the last neuron, which no path sets, is ignored.)
                                if let Some(p) = block.get_mut(i as usize) {
                                    p.spike(step0 + t as u64);
                                }
                            }
                        }
                    });
            });
    }
    /// Mean over neurons with at least three spikes of std(ISI)/mean(ISI); None if none has.
    ///
    /// ```
    /// use glifsim::record::IsiStats;
    /// let mut isi = IsiStats::new(1);
    /// for step in [0, 10, 30, 40, 60] {
    ///     isi.spike(0, step); // intervals 10, 20, 10, 20: mean 15, standard deviation 5
    /// }
    /// assert!((isi.mean_cv().unwrap() - 5.0 / 15.0).abs() < 1e-12);
    /// ```
    pub fn mean_cv(&self) -> Option<f64> {
        let (mut acc, mut k) = (0.0, 0usize);
        for x in &self.pairs {
            let m = x.count as f64 - 1.0;
            if m >= 2.0 {
                let mean = x.sum / m;
                let var = (x.sumsq / m - mean * mean).max(0.0);
                acc += var.sqrt() / mean;
                k += 1;
            }
        }
        (k > 0).then(|| acc / k as f64)
    }
}

/// Everything recorded for one population.
///
/// ```
/// use glifsim::record::{read_npy_u32, PopulationRecorder};
/// let dir = tempfile::tempdir().unwrap();
/// // 40 neurons, one trial; record the spikes of neurons 0–9 only.
/// let mut rec = PopulationRecorder::create(dir.path(), "exc", 1, 40, &[(0, 10)], true)?;
/// rec.push(0, &[1 | 1 << 20, 0, 1 << 3, 1])?; // steps 0 and 1, two words each
/// rec.commit()?;
/// assert_eq!(rec.total, 4);
/// let (_, events) = read_npy_u32(&dir.path().join("exc_spikes.npy"))?;
/// assert_eq!(events, vec![0, 0, 0, 1, 0, 3]); // (step, trial, neuron) rows; 20 and 32 not listed
/// assert_eq!(read_npy_u32(&dir.path().join("exc_counts.npy"))?.1, vec![2, 2]);
/// # Ok::<(), glifsim::Error>(())
/// ```
pub struct PopulationRecorder {
    trials: usize,
    n: usize,
    ranges: Vec<(usize, usize)>,
    spikes: Option<NpyStream>,
    counts: NpyStream,
    /// Spike count over all neurons and trials.
    pub total: u64,
    /// ISI statistics of every (trial, neuron), unless the recorder keeps none.
    pub isi: Option<IsiStats>,
}

impl PopulationRecorder {
    /// Bytes of host memory a recorder of `trials` × `n` neurons holds: the interval
    /// statistics, 32 bytes per neuron and trial (a spike row and its events are a few
    /// kilobytes more).
    ///
    /// ```
    /// use glifsim::record::PopulationRecorder;
    /// assert_eq!(PopulationRecorder::memory_needed(2, 1_000), 64_000);
    /// ```
    pub fn memory_needed(trials: usize, n: usize) -> u64 {
        (trials as u64)
            .saturating_mul(n as u64)
            .saturating_mul(std::mem::size_of::<Isi>() as u64)
    }

    /// Files `<name>_spikes.npy` (u32 rows of step, trial, neuron) when `ranges` is not empty,
    /// and `<name>_counts.npy` (u32 spike count per step, all neurons and trials); with `isi`,
    /// interspike-interval statistics of every neuron and trial
    /// ([`PopulationRecorder::memory_needed`]).
    ///
    /// ```
    /// use glifsim::record::PopulationRecorder;
    /// let dir = tempfile::tempdir().unwrap();
    /// // No spike ranges: only the counts file; no interval statistics.
    /// let rec = PopulationRecorder::create(dir.path(), "p", 2, 100, &[], false)?;
    /// assert!(rec.isi.is_none() && rec.spike_rows() == 0);
    /// assert!(!dir.path().join("p_spikes.npy").exists());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn create(
        dir: &Path,
        name: &str,
        trials: usize,
        n: usize,
        ranges: &[(usize, usize)],
        isi: bool,
    ) -> Result<Self> {
        let isi = isi.then(|| IsiStats::new(trials * n));
        Self::open(dir, name, trials, n, ranges, None, 0, isi)
    }

    /// Reopen a recording at a checkpoint: files cut back to the checkpoint's rows, counts and
    /// statistics restored.
    ///
    /// ```
    /// use glifsim::{checkpoint::RecorderPosition, record::{read_npy_u32, PopulationRecorder}};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut rec = PopulationRecorder::create(dir.path(), "p", 1, 32, &[(0, 32)], false)?;
    /// rec.push(0, &[1, 2, 4])?; // three steps, a spike each
    /// rec.commit()?;
    /// // Resume from a checkpoint taken after two steps (two spike rows, two spikes).
    /// let pos = RecorderPosition { spike_rows: 2, trace_rows: 0, total: 2 };
    /// let mut rec = PopulationRecorder::reopen(dir.path(), "p", 1, 32, &[(0, 32)], 2, &pos, None)?;
    /// rec.push(2, &[8])?;
    /// rec.commit()?;
    /// assert_eq!(rec.total, 3);
    /// assert_eq!(read_npy_u32(&dir.path().join("p_spikes.npy"))?.1, vec![0, 0, 0, 1, 0, 1, 2, 0, 3]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn reopen(
        dir: &Path,
        name: &str,
        trials: usize,
        n: usize,
        ranges: &[(usize, usize)],
        steps: u64,
        pos: &crate::checkpoint::RecorderPosition,
        isi: Option<IsiStats>,
    ) -> Result<Self> {
        let rows = Some((steps, pos.spike_rows));
        Self::open(dir, name, trials, n, ranges, rows, pos.total, isi)
    }

    /// Create (`rows` = None) or reopen at (count rows, spike rows).
    #[allow(clippy::too_many_arguments)]
    fn open(
        dir: &Path,
        name: &str,
        trials: usize,
        n: usize,
        ranges: &[(usize, usize)],
        rows: Option<(u64, u64)>,
        total: u64,
        isi: Option<IsiStats>,
    ) -> Result<Self> {
        let spikes = (!ranges.is_empty())
            .then(|| {
                let path = dir.join(format!("{name}_spikes.npy"));
                NpyStream::open(&path, "<u4", &[3], rows.map(|r| r.1))
            })
            .transpose()?;
        let counts_path = dir.join(format!("{name}_counts.npy"));
        Ok(PopulationRecorder {
            trials,
            n,
            ranges: ranges.to_vec(),
            spikes,
            counts: NpyStream::open(&counts_path, "<u4", &[], rows.map(|r| r.0))?,
            total,
            isi,
        })
    }

    /// Rows written to the spikes file.
    ///
    /// ```
    /// use glifsim::record::PopulationRecorder;
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut rec = PopulationRecorder::create(dir.path(), "p", 1, 32, &[(0, 32)], false)?;
    /// rec.push(0, &[0b1011])?;
    /// assert_eq!(rec.spike_rows(), 3);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn spike_rows(&self) -> u64 {
        self.spikes.as_ref().map_or(0, |s| s.rows())
    }

    /// Take the spike words of steps `step0 ..` (`[t][B][W]`). Words that are not whole
    /// steps are an error, and nothing is recorded.
    ///
    /// ```
    /// use glifsim::record::PopulationRecorder;
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut rec = PopulationRecorder::create(dir.path(), "p", 2, 10, &[], true)?;
    /// rec.push(0, &[1, 1, 0, 1])?; // two steps of two trials of one word
    /// assert_eq!(rec.total, 3);
    /// assert!(rec.push(2, &[1]).is_err()); // half a step
    /// assert_eq!(rec.total, 3);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn push(&mut self, step0: u64, words: &[u32]) -> Result<()> {
        let (n, trials) = (self.n, self.trials);
        let w = words_per_trial(n);
        let fw = trials * w;
        if !words.len().is_multiple_of(fw) {
            return Err(Error::Length {
                what: format!("spike words of whole steps ({fw} words each)"),
                expected: words.len().next_multiple_of(fw),
                got: words.len(),
            });
        }
        let steps = words.len() / fw;
        // Spike counts and the recorded spikes, step by step (the order of the spikes file),
        // steps in parallel.
        let (record, ranges) = (self.spikes.is_some(), &self.ranges);
        let per_step: Vec<(u32, Vec<u32>)> = (0..steps)
            .into_par_iter()
            .map(|t| {
                let frame = &words[t * fw..(t + 1) * fw];
                let count = frame.iter().map(|x| x.count_ones()).sum::<u32>();
                let mut events = Vec::new();
                if record {
                    let step = (step0 + t as u64) as u32;
                    for b in 0..trials {
                        for i in bits_to_indices(&frame[b * w..(b + 1) * w]) {
                            if ranges.iter().any(|&(a, z)| (a..z).contains(&(i as usize))) {
                                events.extend_from_slice(&[step, b as u32, i]);
                            }
                        }
                    }
                }
                (count, events)
            })
            .collect();
        if let Some(isi) = &mut self.isi {
            isi.spikes_in(step0, words, trials, n);
        }
        let counts: Vec<u32> = per_step.iter().map(|p| p.0).collect();
        let events: Vec<u32> = per_step.into_iter().flat_map(|p| p.1).collect();
        self.total += counts.iter().map(|&c| c as u64).sum::<u64>();
        self.counts
            .append(bytemuck::cast_slice(&counts), steps as u64)?;
        if let Some(s) = &mut self.spikes {
            s.append(bytemuck::cast_slice(&events), (events.len() / 3) as u64)?;
        }
        Ok(())
    }

    /// Commit every file.
    ///
    /// ```
    /// use glifsim::record::{read_npy_u32, PopulationRecorder};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut rec = PopulationRecorder::create(dir.path(), "p", 1, 5, &[], false)?;
    /// rec.push(0, &[0b11])?;
    /// rec.commit()?;
    /// assert_eq!(read_npy_u32(&dir.path().join("p_counts.npy"))?.1, vec![2]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn commit(&mut self) -> Result<()> {
        self.counts.commit()?;
        if let Some(s) = &mut self.spikes {
            s.commit()?;
        }
        Ok(())
    }
}

/// Sampled traces of one population: `<name>_v.npy` `[S][B][len(v)]`, `<name>_theta.npy`
/// `[S][B][len(theta)][K(+1)]`, `<name>_asc.npy` `[S][B][len(asc)][J]` and
/// `<name>_trace_steps.npy` `[S]` (the step after which each sample was taken).
///
/// ```
/// use glifsim::{record::TraceRecorder, spec::read_npy_f64, State};
/// let dir = tempfile::tempdir().unwrap();
/// // V of neurons 7 and 2 of a LIF population, one trial.
/// let mut tr = TraceRecorder::open(dir.path(), "exc", 1, 0, 0, &[7, 2], &[], &[], None)?.unwrap();
/// assert_eq!(tr.neurons(), &[2, 7]);
/// // The state of those neurons, in that order, after 10 steps.
/// let st = State { v: vec![-60.0f32, -55.0], r: vec![0.0; 2], theta: vec![], asc: vec![] };
/// tr.sample(10, &st)?;
/// tr.commit()?;
/// let (shape, v) = read_npy_f64(&dir.path().join("exc_v.npy"))?;
/// assert_eq!((shape, v), (vec![1, 1, 2], vec![-55.0, -60.0])); // [S][B][neuron 7, neuron 2]
/// # Ok::<(), glifsim::Error>(())
/// ```
pub struct TraceRecorder {
    /// Every neuron sampled (V, θ or after-spike currents), sorted, each once.
    neurons: Vec<usize>,
    /// Where each listed neuron of V, θ and the currents is in `neurons`.
    v_pos: Vec<usize>,
    th_pos: Vec<usize>,
    asc_pos: Vec<usize>,
    k: usize,
    j: usize,
    trials: usize,
    v: Option<NpyStream>,
    theta: Option<NpyStream>,
    asc: Option<NpyStream>,
    steps: NpyStream,
}

impl TraceRecorder {
    /// Create the files (`rows` = None) or reopen them at a checkpoint keeping their first
    /// `rows` samples. None when nothing is sampled. `k` is the θ values per neuron, `j` the
    /// after-spike currents.
    ///
    /// ```
    /// use glifsim::record::TraceRecorder;
    /// let dir = tempfile::tempdir().unwrap();
    /// // Nothing to sample: no recorder, no files.
    /// assert!(TraceRecorder::open(dir.path(), "p", 1, 0, 0, &[], &[], &[], None)?.is_none());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        dir: &Path,
        name: &str,
        trials: usize,
        k: usize,
        j: usize,
        v_idx: &[usize],
        th_idx: &[usize],
        asc_idx: &[usize],
        rows: Option<u64>,
    ) -> Result<Option<Self>> {
        if v_idx.is_empty() && th_idx.is_empty() && asc_idx.is_empty() {
            return Ok(None);
        }
        let stream = |file: String, descr: &'static str, shape: &[usize]| {
            NpyStream::open(&dir.join(file), descr, shape, rows)
        };
        let optional = |idx: &[usize], file: String, shape: &[usize]| {
            (!idx.is_empty())
                .then(|| stream(file, "<f4", shape))
                .transpose()
        };
        let mut neurons: Vec<usize> = [v_idx, th_idx, asc_idx].concat();
        neurons.sort_unstable();
        neurons.dedup();
        let pos = |idx: &[usize]| -> Vec<usize> {
            idx.iter()
                .map(|i| neurons.binary_search(i).expect("every index is listed"))
                .collect()
        };
        Ok(Some(TraceRecorder {
            v_pos: pos(v_idx),
            th_pos: pos(th_idx),
            asc_pos: pos(asc_idx),
            neurons,
            k,
            j,
            trials,
            v: optional(v_idx, format!("{name}_v.npy"), &[trials, v_idx.len()])?,
            theta: optional(
                th_idx,
                format!("{name}_theta.npy"),
                &[trials, th_idx.len(), k],
            )?,
            asc: optional(
                asc_idx,
                format!("{name}_asc.npy"),
                &[trials, asc_idx.len(), j],
            )?,
            steps: stream(format!("{name}_trace_steps.npy"), "<u8", &[])?,
        }))
    }

    /// Samples written.
    ///
    /// ```
    /// use glifsim::{record::TraceRecorder, State};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut tr = TraceRecorder::open(dir.path(), "p", 1, 0, 0, &[0], &[], &[], None)?.unwrap();
    /// let st = State { v: vec![-65.0f32], r: vec![0.0], theta: vec![], asc: vec![] };
    /// tr.sample(5, &st)?;
    /// tr.sample(10, &st)?;
    /// assert_eq!(tr.rows(), 2);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn rows(&self) -> u64 {
        self.steps.rows()
    }

    /// The neurons sampled, sorted and each once: what [`TraceRecorder::sample`] takes the
    /// state of (`Simulator::state_of`), so that a sample reads back only these.
    ///
    /// ```
    /// use glifsim::record::TraceRecorder;
    /// let dir = tempfile::tempdir().unwrap();
    /// // V of 5 and 1, θ of 5 (K = 1): the state of neurons 1 and 5 is read.
    /// let tr = TraceRecorder::open(dir.path(), "p", 1, 1, 0, &[5, 1], &[5], &[], None)?.unwrap();
    /// assert_eq!(tr.neurons(), &[1, 5]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn neurons(&self) -> &[usize] {
        &self.neurons
    }

    /// Sample the state of [`TraceRecorder::neurons`] (layouts of `State` with their count in
    /// place of N) taken after `steps_done` steps.
    ///
    /// ```
    /// use glifsim::{record::TraceRecorder, State};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut tr = TraceRecorder::open(dir.path(), "p", 1, 0, 0, &[0, 1], &[], &[], None)?.unwrap();
    /// let wrong = State { v: vec![-65.0f32], r: vec![0.0], theta: vec![], asc: vec![] };
    /// assert!(tr.sample(1, &wrong).is_err()); // one neuron's state, two sampled
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn sample(&mut self, steps_done: u64, st: &crate::State<f32>) -> Result<()> {
        let (trials, m) = (self.trials, self.neurons.len());
        if st.v.len() != trials * m {
            return Err(Error::Length {
                what: "sampled state (v)".into(),
                expected: trials * m,
                got: st.v.len(),
            });
        }
        // The `width` values of each listed neuron in every trial, from a [B][M][width] array.
        let gather = |values: &[f32], pos: &[usize], width: usize| -> Vec<f32> {
            let mut row = Vec::with_capacity(trials * pos.len() * width);
            for b in 0..trials {
                for &i in pos {
                    let o = (b * m + i) * width;
                    row.extend_from_slice(&values[o..o + width]);
                }
            }
            row
        };
        for (stream, values, pos, width) in [
            (&mut self.v, &st.v, &self.v_pos, 1),
            (&mut self.theta, &st.theta, &self.th_pos, self.k),
            (&mut self.asc, &st.asc, &self.asc_pos, self.j),
        ] {
            if let Some(s) = stream {
                s.append(bytemuck::cast_slice(&gather(values, pos, width)), 1)?;
            }
        }
        self.steps.append(&steps_done.to_le_bytes(), 1)
    }

    /// Commit every file.
    ///
    /// ```
    /// use glifsim::{record::{read_npy_u32, TraceRecorder}, spec::read_npy_f64, State};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut tr = TraceRecorder::open(dir.path(), "p", 1, 0, 0, &[0], &[], &[], None)?.unwrap();
    /// tr.sample(3, &State { v: vec![-64.0f32], r: vec![0.0], theta: vec![], asc: vec![] })?;
    /// tr.commit()?;
    /// assert_eq!(read_npy_f64(&dir.path().join("p_v.npy"))?.1, vec![-64.0]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn commit(&mut self) -> Result<()> {
        self.steps.commit()?;
        for s in [&mut self.v, &mut self.theta, &mut self.asc]
            .into_iter()
            .flatten()
        {
            s.commit()?;
        }
        Ok(())
    }
}

/// The per-population part of `summary.json`.
///
/// ```
/// use glifsim::{record::Summary, run::{run_spec, RunOptions}, spec::Spec, Backend};
/// let dir = tempfile::tempdir().unwrap();
/// let spec = Spec::parse(
///     "dt = 0.1\nduration = 100.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 10\n[population.input]\nbias = 30.0\n",
///     &dir.path().join("s.toml"),
/// )?;
/// let mut opts = RunOptions::new(dir.path().join("out"));
/// opts.backend = Backend::Cpu;
/// opts.plot = false;
/// run_spec(&spec, &opts, &mut |_, _| {})?;
/// let p = &Summary::read(&dir.path().join("out"))?.populations[0];
/// // 10 identical neurons over 100 ms: the rate is the spike count per neuron × 10.
/// assert_eq!(p.mean_rate_hz, p.spike_count as f64 / 10.0 / 0.1);
/// assert_eq!(p.cv_isi, Some(0.0)); // constant input: perfectly regular
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PopulationSummary {
    /// Name.
    pub name: String,
    /// Model.
    pub model: String,
    /// Neurons.
    pub neurons: usize,
    /// Trials.
    pub trials: usize,
    /// Spikes over all neurons and trials.
    pub spike_count: u64,
    /// Mean firing rate (Hz) over neurons, trials and the simulated time.
    pub mean_rate_hz: f64,
    /// Mean coefficient of variation of interspike intervals (neurons with ≥ 3 spikes).
    pub cv_isi: Option<f64>,
    /// Wall time this population's simulation took (s).
    pub wall_time_s: f64,
    /// Neuron updates (neurons × trials × steps) per wall-clock second.
    pub neuron_updates_per_s: f64,
}

/// `summary.json`.
///
/// ```
/// use glifsim::record::Summary;
/// let text = r#"{"glifsim": "0.1.0", "backend": "cpu", "adapter": "cpu", "arith": "separate",
///   "dt": 0.1, "steps": 10, "steps_requested": 20, "complete": false,
///   "stopped_because": "interrupted", "wall_time_s": 0.01, "populations": []}"#;
/// let s: Summary = serde_json::from_str(text).unwrap();
/// assert!(!s.complete && s.steps < s.steps_requested);
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// glifsim version.
    pub glifsim: String,
    /// "gpu" or "cpu".
    pub backend: String,
    /// Adapter name (or "cpu").
    pub adapter: String,
    /// Arithmetic mode.
    pub arith: String,
    /// Δt (ms).
    pub dt: f64,
    /// Steps completed.
    pub steps: u64,
    /// Steps asked for.
    pub steps_requested: u64,
    /// Whether the run finished.
    pub complete: bool,
    /// Why it stopped early, if it did.
    pub stopped_because: Option<String>,
    /// Total wall time (s).
    pub wall_time_s: f64,
    /// Populations.
    pub populations: Vec<PopulationSummary>,
}

impl Summary {
    /// Write `summary.json` atomically (temporary file, then rename).
    ///
    /// ```
    /// use glifsim::record::Summary;
    /// let dir = tempfile::tempdir().unwrap();
    /// let s = Summary {
    ///     glifsim: "0.1.0".into(), backend: "cpu".into(), adapter: "cpu".into(),
    ///     arith: "separate".into(), dt: 0.1, steps: 5, steps_requested: 5, complete: true,
    ///     stopped_because: None, wall_time_s: 0.0, populations: vec![],
    /// };
    /// s.write(dir.path())?;
    /// assert_eq!(Summary::read(dir.path())?.steps, 5);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join("summary.json");
        let tmp = dir.join("summary.json.tmp");
        let text = serde_json::to_string_pretty(self).expect("summary serialises");
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }
    /// Read `summary.json`.
    ///
    /// ```
    /// use glifsim::record::Summary;
    /// let dir = tempfile::tempdir().unwrap();
    /// assert!(Summary::read(dir.path()).is_err()); // no summary.json
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn read(dir: &Path) -> Result<Summary> {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::format(&path, e.to_string()))
    }
}

/// Read a u32 NPY file of any shape (for plots and tests).
///
/// ```
/// use glifsim::record::{read_npy_u32, NpyStream};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("c.npy");
/// let mut s = NpyStream::create(&path, "<u4", &[])?;
/// s.append(bytemuck::cast_slice(&[3u32, 1, 4]), 3)?;
/// s.commit()?;
/// assert_eq!(read_npy_u32(&path)?, (vec![3], vec![3, 1, 4]));
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn read_npy_u32(path: &Path) -> Result<(Vec<u64>, Vec<u32>)> {
    let mut data = Vec::new();
    let shape = read_npy_u32_blocks(path, 1 << 20, |block| {
        data.extend_from_slice(block);
        Ok(())
    })?;
    Ok((shape, data))
}

/// Read a uint32 NPY file a block of at most `block` values at a time (in file order), handing
/// each to `f`, without the whole file in memory (a spikes file of a large run can be tens of
/// GB); returns its shape. An error from `f` stops the read and is returned.
///
/// ```
/// use glifsim::record::{read_npy_u32_blocks, NpyStream};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("spikes.npy");
/// let mut s = NpyStream::create(&path, "<u4", &[3])?; // rows of (step, trial, neuron)
/// s.append(bytemuck::cast_slice(&[0u32, 0, 7, 0, 0, 9, 2, 0, 7]), 3)?;
/// s.commit()?;
/// let mut rows = Vec::new();
/// let shape = read_npy_u32_blocks(&path, 6, |block| {
///     rows.extend(block.chunks_exact(3).map(|e| (e[0], e[2])));
///     Ok(())
/// })?;
/// assert_eq!((shape, rows), (vec![3, 3], vec![(0, 7), (0, 9), (2, 7)]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_npy_u32_blocks(
    path: &Path,
    block: usize,
    mut f: impl FnMut(&[u32]) -> Result<()>,
) -> Result<Vec<u64>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let npy = npyz::NpyFile::new(std::io::BufReader::with_capacity(1 << 20, file))
        .map_err(|e| Error::format(path, format!("not a readable NPY file: {e}")))?;
    let shape = npy.shape().to_vec();
    let values = npy
        .data::<u32>()
        .map_err(|e| Error::format(path, format!("expected uint32 data: {e}")))?;
    let mut buf = Vec::with_capacity(block.clamp(1, 1 << 20));
    for x in values {
        buf.push(x.map_err(|e| Error::format(path, format!("truncated NPY data: {e}")))?);
        if buf.len() >= block.max(1) {
            f(&buf)?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        f(&buf)?;
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of any size concatenate to the file's values; a file shorter than its header
    /// says is an error naming it, and a file of another dtype too.
    #[test]
    fn npy_blocks_cover_the_file_and_refuse_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.npy");
        let values: Vec<u32> = (0..3 * 1001).map(|i| i * 7 + 1).collect();
        let mut s = NpyStream::create(&path, "<u4", &[3]).unwrap();
        s.append(bytemuck::cast_slice(&values), 1001).unwrap();
        s.commit().unwrap();
        for block in [1, 3, 1000, 1 << 20] {
            let mut got = Vec::new();
            let mut calls = 0;
            let shape = read_npy_u32_blocks(&path, block, |b| {
                assert!(b.len() <= block && !b.is_empty());
                got.extend_from_slice(b);
                calls += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!((shape, &got), (vec![1001, 3], &values), "blocks of {block}");
            assert_eq!(calls, values.len().div_ceil(block), "blocks of {block}");
        }
        // An error from the callee comes back.
        assert!(read_npy_u32_blocks(&path, 10, |_| Err(Error::Usage("stop".into()))).is_err());
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(HEADER_LEN as u64 + 4 * 3000).unwrap();
        let e = read_npy_u32_blocks(&path, 100, |_| Ok(())).unwrap_err();
        assert!(
            matches!(e, Error::Format { .. }) && e.to_string().contains("s.npy"),
            "{e}"
        );
        let f32s = dir.path().join("f.npy");
        let mut s = NpyStream::create(&f32s, "<f4", &[]).unwrap();
        s.append(bytemuck::cast_slice(&[1.5f32]), 1).unwrap();
        s.commit().unwrap();
        assert!(read_npy_u32_blocks(&f32s, 100, |_| Ok(())).is_err());
    }

    #[test]
    fn push_equals_a_spike_by_spike_reference() {
        // Three trials of 1,000 neurons (the last word partly padding), 5,000 and 70,001 (more
        // than one block of 1,024 words where the pool has two threads or more), sparse and
        // dense words, segments of 1, 7 and 30 steps; spikes recorded for two ranges. Held to
        // the plain loop over every spike in order.
        for n in [1000usize, 5000, 70_001] {
            let trials = 3;
            let w = words_per_trial(n);
            let ranges = vec![(0, 40), (n - 100, n)];
            let dir = tempfile::tempdir().unwrap();
            let mut rec =
                PopulationRecorder::create(dir.path(), "p", trials, n, &ranges, true).unwrap();
            let mut isi = IsiStats::new(trials * n);
            let (mut counts, mut events, mut total) = (Vec::new(), Vec::new(), 0u64);
            let mut s = 7u64;
            let mut step0 = 0u64;
            let mut segments = Vec::new();
            for (seg, steps) in [1usize, 7, 30, 7].into_iter().enumerate() {
                let mut words = vec![0u32; steps * trials * w];
                for (k, x) in words.iter_mut().enumerate() {
                    for bit in 0..32 {
                        s = s
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let i = (k % w) * 32 + bit;
                        // Dense in the second segment, sparse elsewhere; no padding bits.
                        let p = if seg == 1 { 3 } else { 40 };
                        if i < n && (s >> 33).is_multiple_of(p) {
                            *x |= 1 << bit;
                        }
                    }
                }
                rec.push(step0, &words).unwrap();
                segments.push((steps, words.clone()));
                for t in 0..steps {
                    let mut c = 0;
                    for b in 0..trials {
                        let row = &words[(t * trials + b) * w..(t * trials + b + 1) * w];
                        for i in bits_to_indices(row) {
                            c += 1;
                            isi.spike(b * n + i as usize, step0 + t as u64);
                            if ranges.iter().any(|&(a, z)| (a..z).contains(&(i as usize))) {
                                events.extend([(step0 + t as u64) as u32, b as u32, i]);
                            }
                        }
                    }
                    counts.push(c);
                    total += c as u64;
                }
                step0 += steps as u64;
            }
            rec.commit().unwrap();
            assert_eq!(rec.total, total);
            assert!(
                rec.isi.as_ref() == Some(&isi),
                "n = {n}: ISI statistics differ"
            );
            // Blocks of any size (here 1 word: every block boundary) give the same statistics.
            let mut blocked = IsiStats::new(trials * n);
            let mut s0 = 0;
            for (steps, words) in &segments {
                blocked.spikes_in_blocks(s0, words, trials, n, 1);
                s0 += *steps as u64;
            }
            assert!(blocked == isi, "n = {n}: one-word blocks differ");
            assert!(isi.mean_cv().is_some());
            let (_, got) = read_npy_u32(&dir.path().join("p_counts.npy")).unwrap();
            assert_eq!(got, counts, "n = {n}: counts");
            let (_, got) = read_npy_u32(&dir.path().join("p_spikes.npy")).unwrap();
            assert_eq!(got, events, "n = {n}: spikes");
        }
    }
}
