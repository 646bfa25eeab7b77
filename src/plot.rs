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
use crate::record::{read_npy_u32, read_npy_u32_blocks, Summary};

/// Picture size in pixels.
pub const SIZE: (u32, u32) = (1200, 800);
/// At most this many neurons are drawn in the raster.
pub const MAX_RASTER_NEURONS: usize = 2000;

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

/// Draw `DIR/raster.png` from `DIR/summary.json`, `DIR/<pop>_spikes.npy` (trial 0, sampled
/// neurons) and `DIR/<pop>_counts.npy`. Returns the picture's path.
pub fn plot_dir(dir: &Path) -> Result<std::path::PathBuf> {
    register_font();
    let summary = Summary::read(dir)?;
    let steps = summary.steps.max(1);
    let t_max = steps as f64 * summary.dt;
    // Rows: populations stacked, each sampled down so the total is ≤ MAX_RASTER_NEURONS.
    let total: usize = summary.populations.iter().map(|p| p.neurons).sum();
    let stride = total.div_ceil(MAX_RASTER_NEURONS).max(1);
    let mut rows_total = 0usize;
    let mut points: Vec<(usize, f64, f64)> = Vec::new(); // (population, t ms, row)
    let mut rates: Vec<(usize, Vec<(f64, f64)>)> = Vec::new();
    let bin_steps = ((steps as f64 / 200.0).ceil() as u64).max(1);
    for (pi, p) in summary.populations.iter().enumerate() {
        let spikes = dir.join(format!("{}_spikes.npy", p.name));
        if spikes.exists() {
            // Streamed, 1M events at a time: a large run's file can be tens of GB.
            read_npy_u32_blocks(&spikes, 3 << 20, |ev| {
                for e in ev.chunks_exact(3) {
                    let (step, trial, n) = (e[0] as u64, e[1], e[2] as usize);
                    if trial == 0 && n % stride == 0 && step < steps {
                        points.push((
                            pi,
                            step as f64 * summary.dt,
                            (rows_total + n / stride) as f64,
                        ));
                    }
                }
                Ok(())
            })?;
        }
        rows_total += p.neurons.div_ceil(stride);
        let counts_path = dir.join(format!("{}_counts.npy", p.name));
        let (_, counts) = read_npy_u32(&counts_path)?;
        let mut series = Vec::new();
        for (bi, chunk) in counts.chunks(bin_steps as usize).enumerate() {
            let secs = chunk.len() as f64 * summary.dt / 1000.0;
            let c: u64 = chunk.iter().map(|&x| x as u64).sum();
            let rate = c as f64 / ((p.neurons * p.trials) as f64 * secs);
            let t = (bi as u64 * bin_steps) as f64 * summary.dt;
            series.push((t, rate));
            series.push((t + chunk.len() as f64 * summary.dt, rate));
        }
        rates.push((pi, series));
    }
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
            .x_label_area_size(45)
            .y_label_area_size(70)
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
            .x_label_area_size(40)
            .y_label_area_size(70)
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
