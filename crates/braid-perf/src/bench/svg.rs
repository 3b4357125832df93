//! `--svg`: throughput over time per path, one panel per stack, from one
//! run of each (the client's per-interval samples).

use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::summary::path_of;
use crate::report::PerfResult;

/// One panel: a title and the run it plots.
#[derive(Debug)]
pub struct Panel<'a> {
    /// Title, e.g. "kernel, run 1".
    pub title: String,
    /// The run.
    pub result: &'a PerfResult,
}

/// Per-path series of (t seconds, Mbit/s), plus the application's total.
fn series(result: &PerfResult, paths: &[String]) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut out: Vec<(String, Vec<(f64, f64)>)> = paths
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("path {} ({n})", i + 1), Vec::new()))
        .collect();
    let mut total = Vec::new();
    for sample in &result.intervals {
        let mut per_path = vec![0.0; paths.len()];
        for s in &sample.subflows {
            if let Some(p) = s.local.and_then(path_of).filter(|p| *p <= paths.len()) {
                per_path[p - 1] += s.bps / 1e6;
            }
        }
        for (series, v) in out.iter_mut().zip(per_path) {
            series.1.push((sample.t_s, v));
        }
        total.push((sample.t_s, sample.bps / 1e6));
    }
    out.push(("application".to_string(), total));
    out
}

/// Draws `panels` into an SVG file at `file`.
pub fn draw(
    file: &Path,
    scenario: &str,
    paths: &[String],
    panels: &[Panel<'_>],
) -> anyhow::Result<()> {
    let e = |e: &dyn std::fmt::Display| anyhow::anyhow!("--svg {}: {e}", file.display());
    let n = panels.len().max(1);
    let root = SVGBackend::new(file, (960, 320 * n as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let all: Vec<_> = panels.iter().map(|p| series(p.result, paths)).collect();
    let t_max = all
        .iter()
        .flatten()
        .flat_map(|s| s.1.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let y_max = all
        .iter()
        .flatten()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .fold(1.0f64, f64::max)
        * 1.1;
    for ((area, panel), lines) in root.split_evenly((n, 1)).iter().zip(panels).zip(&all) {
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{scenario}: {}", panel.title), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("time since the data phase began (s)")
            .y_desc("Mbit/s")
            .draw()
            .map_err(|x| e(&x))?;
        let lines = lines
            .iter()
            .map(|(name, points)| (name.as_str(), &points[..]));
        draw_lines(
            &mut chart,
            lines,
            |i| Palette99::pick(i).to_rgba(),
            SeriesLabelPosition::UpperRight,
        )
        .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

/// Draws one line per `(name, points)` of `lines`, 2 px wide in
/// `colour(i)`, each with a legend entry, then the legend at `legend`. The
/// bench's panels and `braid demo`'s chart both draw their paths so.
pub fn draw_lines<'c, 'a, DB: DrawingBackend + 'c>(
    chart: &mut ChartContext<'c, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    lines: impl IntoIterator<Item = (&'a str, &'a [(f64, f64)])>,
    colour: impl Fn(usize) -> RGBAColor,
    legend: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (i, (name, points)) in lines.into_iter().enumerate() {
        let colour = colour(i);
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour));
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}
