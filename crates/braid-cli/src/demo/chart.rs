//! The SVG chart: throughput of each path over simulated time (what the
//! phone received over it, half-second bins), the application's total,
//! and every outage window shaded and labelled.

use std::path::Path;

use plotters::prelude::*;

/// Path colours: blue, orange, green, magenta (as the live view's).
pub const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 140),
];

/// What the chart shows.
#[derive(Debug)]
pub struct Chart<'a> {
    /// Title.
    pub title: String,
    /// Path names.
    pub names: &'a [String],
    /// Per path: (t seconds, Mbit/s).
    pub series: &'a [Vec<(f64, f64)>],
    /// Outages: (path, start s, end s).
    pub outages: &'a [(usize, f64, f64)],
    /// Length of the story, s.
    pub end: f64,
}

/// Writes `chart` as SVG to `file`.
pub fn draw(file: &Path, chart: &Chart<'_>) -> anyhow::Result<()> {
    let e = |x: &dyn std::fmt::Display| anyhow::anyhow!("--svg {}: {x}", file.display());
    let root = SVGBackend::new(file, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let total: Vec<(f64, f64)> = match chart.series.first() {
        Some(first) => (0..first.len())
            .map(|k| {
                let y = chart.series.iter().filter_map(|s| s.get(k)).map(|p| p.1);
                (first[k].0, y.sum())
            })
            .collect(),
        None => Vec::new(),
    };
    let y_max = total.iter().map(|p| p.1).fold(10.0f64, f64::max) * 1.15;
    let mut c = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..chart.end, 0.0..y_max)
        .map_err(|x| e(&x))?;
    c.configure_mesh()
        .x_desc("simulated time (s)")
        .y_desc("throughput received (Mbit/s)")
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|x| e(&x))?;
    for &(path, start, end) in chart.outages {
        let name = chart.names.get(path).map_or("path", String::as_str);
        c.draw_series(std::iter::once(Rectangle::new(
            [(start, 0.0), (end.min(chart.end), y_max)],
            RGBColor(220, 50, 50).mix(0.12).filled(),
        )))
        .map_err(|x| e(&x))?;
        c.draw_series(std::iter::once(Text::new(
            format!("{name} blackout"),
            (start + 0.2, y_max * 0.96),
            ("sans-serif", 14).into_font().color(&RGBColor(170, 30, 30)),
        )))
        .map_err(|x| e(&x))?;
    }
    c.draw_series(LineSeries::new(
        total.iter().copied(),
        RGBColor(90, 90, 90).stroke_width(1),
    ))
    .map_err(|x| e(&x))?
    .label("total (application)")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RGBColor(90, 90, 90)));
    let lines = chart.names.iter().map(String::as_str);
    let lines = lines.zip(chart.series.iter().map(|s| &s[..]));
    braid_perf::bench::svg::draw_lines(
        &mut c,
        lines,
        |i| COLOURS[i % COLOURS.len()].to_rgba(),
        SeriesLabelPosition::UpperLeft,
    )
    .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_with_a_line_per_path_and_the_outage() {
        let dir = std::env::temp_dir().join(format!("braid-demo-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.svg");
        let names = vec!["WiFi".to_string(), "LTE".to_string()];
        let series = vec![
            vec![(0.5, 40.0), (1.0, 0.0), (1.5, 30.0)],
            vec![(0.5, 20.0), (1.0, 25.0), (1.5, 20.0)],
        ];
        draw(
            &file,
            &Chart {
                title: "t".into(),
                names: &names,
                series: &series,
                outages: &[(0, 0.8, 1.2)],
                end: 2.0,
            },
        )
        .unwrap();
        let svg = std::fs::read_to_string(&file).unwrap();
        assert!(svg.trim_start().starts_with("<svg") || svg.contains("<svg"));
        assert!(svg.contains("WiFi blackout"));
        for c in &COLOURS[..2] {
            let stroke = format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
            assert!(svg.contains(&stroke), "{stroke}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
