//! `raster.png`: a spike raster of up to a few thousand sampled neurons with the population
//! rate beneath, drawn from the files of an output directory. Uses plotters' bitmap backend and
//! the bundled DejaVu Sans, so no system fonts are needed.
//!
//! ```no_run
//! // After `glifsim run spec.toml --out out/` (or `run::run_spec`) has written out/:
//! let png = glifsim::plot::plot_dir(std::path::Path::new("out"))?;
//! println!("raster in {}", png.display());
//! # Ok::<(), glifsim::Error>(())
//! ```

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::record::{read_npy_u32_blocks, Summary};

/// Picture size in pixels.
///
/// ```
/// assert_eq!(glifsim::plot::SIZE, (1200, 800));
/// ```
pub const SIZE: (u32, u32) = (1200, 800);
/// At most this many neurons are drawn in the raster.
///
/// ```
/// use glifsim::plot::MAX_RASTER_NEURONS;
/// // A million neurons: every 500th is drawn.
/// assert_eq!(1_000_000usize.div_ceil(MAX_RASTER_NEURONS), 500);
/// ```
pub const MAX_RASTER_NEURONS: usize = 2000;
/// At most this many time bins in the raster (one per step in shorter runs).
///
/// ```
/// use glifsim::plot::MAX_TIME_BINS;
/// // 3,000 steps: one bin per step; 100,000 steps: 25 steps per bin.
/// assert_eq!(3_000u64.div_ceil(MAX_TIME_BINS), 1);
/// assert_eq!(100_000u64.div_ceil(MAX_TIME_BINS), 25);
/// ```
pub const MAX_TIME_BINS: u64 = 4096;

static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let _ = plotters::style::register_font("sans-serif", style, FONT);
        }
    });
}

fn perr(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::format(path, format!("drawing failed: {e}"))
}

/// What the picture shows, read from the files of an output directory.
struct Raster {
    /// Every `stride`th neuron of each population is a row.
    stride: usize,
    /// Rows of all populations, stacked in order.
    rows_total: usize,
    /// The dots: (population, time in ms, row).
    points: Vec<(usize, f64, f64)>,
    /// Each population's rate (Hz) as a step line over time (ms).
    rates: Vec<(usize, Vec<(f64, f64)>)>,
}

/// The raster's dots and rates from `dir`'s files, streamed: memory bounded by the rows and
/// [`MAX_TIME_BINS`], whatever the run's length and spike count.
fn raster(dir: &Path, summary: &Summary) -> Result<Raster> {
    let steps = summary.steps.max(1);
    // Rows: populations stacked, each sampled down so the total is ≤ MAX_RASTER_NEURONS.
    let total: usize = summary.populations.iter().map(|p| p.neurons).sum();
    let stride = total.div_ceil(MAX_RASTER_NEURONS).max(1);
    let first_rows: Vec<usize> = summary
        .populations
        .iter()
        .scan(0, |at, p| {
            let first = *at;
            *at += p.neurons.div_ceil(stride);
            Some(first)
        })
        .collect();
    let rows_total: usize = summary
        .populations
        .iter()
        .map(|p| p.neurons.div_ceil(stride))
        .sum();
    // A dot per (row, time bin) with a spike: one bin per step up to MAX_TIME_BINS steps,
    // else MAX_TIME_BINS bins (under half a pixel wide), so that the memory and the drawing do
    // not grow with the run's length.
    let bins = steps.min(MAX_TIME_BINS) as usize;
    let mut dots = vec![0u64; (rows_total * bins).div_ceil(64)];
    let mut rates: Vec<(usize, Vec<(f64, f64)>)> = Vec::new();
    let bin_steps = ((steps as f64 / 200.0).ceil() as u64).max(1);
    for (pi, p) in summary.populations.iter().enumerate() {
        let spikes = dir.join(format!("{}_spikes.npy", p.name));
        if spikes.exists() {
            // Streamed, 1M events at a time: a large run's file can be tens of GB.
            read_npy_u32_blocks(&spikes, 3 << 20, |ev| {
                for e in ev.chunks_exact(3) {
                    let (step, trial, n) = (e[0] as u64, e[1], e[2] as usize);
                    if trial == 0 && n % stride == 0 && step < steps && n < p.neurons {
                        let bin = (step as u128 * bins as u128 / steps as u128) as usize;
                        let at = (first_rows[pi] + n / stride) * bins + bin;
                        dots[at / 64] |= 1 << (at % 64);
                    }
                }
                Ok(())
            })?;
        }
        // The rate in bins of `bin_steps` steps (the last one perhaps shorter), the counts
        // streamed too: (spikes, steps) per bin.
        let counts_path = dir.join(format!("{}_counts.npy", p.name));
        let mut per_bin: Vec<(u64, u64)> = Vec::new();
        let mut step = 0u64;
        read_npy_u32_blocks(&counts_path, 1 << 20, |counts| {
            for &c in counts {
                let bi = (step / bin_steps) as usize;
                if bi == per_bin.len() {
                    per_bin.push((0, 0));
                }
                per_bin[bi].0 += c as u64;
                per_bin[bi].1 += 1;
                step += 1;
            }
            Ok(())
        })?;
        let mut series = Vec::new();
        for (bi, &(c, len)) in per_bin.iter().enumerate() {
            let secs = len as f64 * summary.dt / 1000.0;
            let rate = c as f64 / ((p.neurons * p.trials) as f64 * secs);
            let t = (bi as u64 * bin_steps) as f64 * summary.dt;
            series.push((t, rate));
            series.push((t + len as f64 * summary.dt, rate));
        }
        rates.push((pi, series));
    }
    // Each dot at its step (one bin per step) or at its bin's middle.
    let bin_ms = steps as f64 / bins.max(1) as f64 * summary.dt;
    let offset = if bins as u64 == steps { 0.0 } else { 0.5 };
    let points: Vec<(usize, f64, f64)> = (0..rows_total * bins)
        .filter(|&at| (dots[at / 64] >> (at % 64)) & 1 == 1)
        .map(|at| {
            let (row, bin) = (at / bins, at % bins);
            let pi = first_rows.partition_point(|&r| r <= row) - 1;
            (pi, (bin as f64 + offset) * bin_ms, row as f64)
        })
        .collect();
    Ok(Raster {
        stride,
        rows_total,
        points,
        rates,
    })
}

/// Draw `DIR/raster.png` from `DIR/summary.json`, `DIR/<pop>_spikes.npy` (trial 0, sampled
/// neurons) and `DIR/<pop>_counts.npy`. Returns the picture's path.
///
/// ```
/// use glifsim::{plot::plot_dir, run::{run_spec, RunOptions}, spec::Spec, Backend};
/// let dir = tempfile::tempdir().unwrap();
/// let text = "dt = 0.1\nduration = 20.0\n[[population]]\nname = \"exc\"\nmodel = \"LIF\"\nneurons = 200\n[population.input]\nbias = 14.0\nnoise = { std = 40.0 }\n";
/// let mut opts = RunOptions::new(dir.path().join("out"));
/// opts.backend = Backend::Cpu;
/// opts.plot = false;
/// run_spec(&Spec::parse(text, &dir.path().join("s.toml"))?, &opts, &mut |_, _| {})?;
/// let png = plot_dir(&dir.path().join("out"))?; // `glifsim plot out`
/// assert_eq!(png, dir.path().join("out/raster.png"));
/// assert!(std::fs::metadata(&png).unwrap().len() > 1000);
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn plot_dir(dir: &Path) -> Result<std::path::PathBuf> {
    register_font();
    let summary = Summary::read(dir)?;
    let steps = summary.steps.max(1);
    let t_max = steps as f64 * summary.dt;
    let Raster {
        stride,
        rows_total,
        points,
        rates,
    } = raster(dir, &summary)?;
    let out = dir.join("raster.png");
    {
        let root = BitMapBackend::new(&out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| perr(&out, e))?;
        let (upper, lower) = root.split_vertically(SIZE.1 * 2 / 3);
        let names: Vec<String> = summary
            .populations
            .iter()
            .map(|p| format!("{} {} × {}", p.name, p.model, p.neurons))
            .collect();
        let caption = format!(
            "glifsim: {} on {} ({} steps of {} ms{})",
            names.join(", "),
            summary.adapter,
            summary.steps,
            summary.dt,
            if summary.complete { "" } else { ", incomplete" }
        );
        let mut chart = ChartBuilder::on(&upper)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .margin_right(28)
            .x_label_area_size(45)
            .y_label_area_size(85)
            .build_cartesian_2d(0.0..t_max, 0.0..(rows_total.max(1) as f64))
            .map_err(|e| perr(&out, e))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("time (ms)")
            .y_desc(if stride > 1 {
                format!("neuron (every {stride}th)")
            } else {
                "neuron".to_string()
            })
            .y_label_formatter(&|y| format!("{}", (*y as usize) * stride))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| perr(&out, e))?;
        chart
            .draw_series(points.iter().map(|&(pi, t, row)| {
                Circle::new((t, row + 0.5), 1, COLORS[pi % COLORS.len()].filled())
            }))
            .map_err(|e| perr(&out, e))?;
        let r_max = rates
            .iter()
            .flat_map(|(_, s)| s.iter().map(|p| p.1))
            .fold(1.0f64, f64::max)
            * 1.1;
        let mut rc = ChartBuilder::on(&lower)
            .margin(12)
            .margin_right(28)
            .x_label_area_size(40)
            .y_label_area_size(85)
            .build_cartesian_2d(0.0..t_max, 0.0..r_max)
            .map_err(|e| perr(&out, e))?;
        rc.configure_mesh()
            .disable_mesh()
            .x_desc("time (ms)")
            .y_desc("rate (Hz)")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| perr(&out, e))?;
        for (pi, s) in rates {
            let color = COLORS[pi % COLORS.len()];
            rc.draw_series(LineSeries::new(s, color.stroke_width(2)))
                .map_err(|e| perr(&out, e))?
                .label(summary.populations[pi].name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        rc.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| perr(&out, e))?;
        root.present().map_err(|e| perr(&out, e))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::read_npy_u32;
    use crate::run::{run_spec, RunOptions};
    use crate::spec::Spec;

    /// The raster's dots against the spikes files of a real run of two populations (rows
    /// stacked, trial 0 only): one dot per spike at its step in a run of up to
    /// MAX_TIME_BINS steps; in a longer one, a dot per (row, bin) with a spike, at most half
    /// a bin from each spike it stands for.
    #[test]
    fn dots_stand_for_the_spikes() {
        for steps in [300u64, 2 * MAX_TIME_BINS + 7] {
            let dir = tempfile::tempdir().unwrap();
            let text = format!(
                "dt = 0.1\nduration = {}\n[[population]]\nname = \"a\"\nmodel = \"LIF\"\nneurons = 30\ntrials = 2\n\
                 [population.input]\nbias = 40.0\nnoise = {{ mean = 0.0, std = 30.0 }}\n\
                 [[population]]\nname = \"b\"\nmodel = \"LIF\"\nneurons = 20\n[population.input]\nbias = 60.0\n",
                steps as f64 * 0.1
            );
            let spec = Spec::parse(&text, &dir.path().join("s.toml")).unwrap();
            let mut opts = RunOptions::new(dir.path());
            opts.backend = crate::Backend::Cpu;
            opts.plot = false;
            let summary = run_spec(&spec, &opts, &mut |_, _| {}).unwrap();
            assert_eq!(summary.steps, steps);
            let r = raster(dir.path(), &summary).unwrap();
            assert_eq!((r.stride, r.rows_total), (1, 50));
            let bins = steps.min(MAX_TIME_BINS);
            let bin_ms = steps as f64 / bins as f64 * 0.1;
            // Every spike of trial 0, as (population, row, time in ms).
            let mut want = Vec::new();
            for (pi, (name, first)) in [("a", 0), ("b", 30)].into_iter().enumerate() {
                let (_, ev) = read_npy_u32(&dir.path().join(format!("{name}_spikes.npy"))).unwrap();
                for e in ev.chunks_exact(3).filter(|e| e[1] == 0) {
                    want.push((pi, first + e[2] as usize, e[0] as f64 * 0.1));
                }
            }
            assert!(want.len() > 100, "{steps} steps: {} spikes", want.len());
            // The rate line, bin by bin (two points each), adds up to every spike of every
            // trial, over every step.
            for (pi, series) in &r.rates {
                let m = &summary.populations[*pi];
                let (mut spikes, mut ms) = (0.0, 0.0);
                for pair in series.chunks_exact(2) {
                    let len = pair[1].0 - pair[0].0;
                    spikes += pair[0].1 * (m.neurons * m.trials) as f64 * len / 1000.0;
                    ms += len;
                }
                assert!((spikes - m.spike_count as f64).abs() < 1e-6 * m.spike_count as f64);
                assert!(
                    (ms - steps as f64 * 0.1).abs() < 1e-6,
                    "{steps} steps: {ms} ms"
                );
            }
            if steps <= MAX_TIME_BINS {
                let mut got: Vec<(usize, usize, f64)> = r
                    .points
                    .iter()
                    .map(|&(pi, t, row)| (pi, row as usize, t))
                    .collect();
                got.sort_by(|x, y| x.partial_cmp(y).unwrap());
                want.sort_by(|x, y| x.partial_cmp(y).unwrap());
                assert!(
                    got.len() == want.len()
                        && got
                            .iter()
                            .zip(&want)
                            .all(|(g, w)| g.0 == w.0 && g.1 == w.1 && (g.2 - w.2).abs() < 1e-9),
                    "{steps} steps: the dots are not the spikes"
                );
            } else {
                assert!(r.points.len() <= want.len() && r.points.len() <= 50 * bins as usize);
                for &(p, u, y) in &r.points {
                    assert!(
                        want.iter().any(|&(pi, row, t)| p == pi
                            && y as usize == row
                            && (u - t).abs() <= bin_ms / 2.0 + 1e-9),
                        "{steps} steps: a dot in row {y} at {u} ms without a spike"
                    );
                }
                for &(pi, row, t) in &want {
                    assert!(
                        r.points.iter().any(|&(p, u, y)| p == pi
                            && y as usize == row
                            && (u - t).abs() <= bin_ms / 2.0 + 1e-9),
                        "{steps} steps: no dot for the spike of row {row} at {t} ms"
                    );
                }
            }
        }
    }
}
