//! Self-contained SVG line and scatter plots (plotters' SVG backend, no system fonts).

use plotters::prelude::*;

/// One named series of (x, y) points.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Draw markers instead of a line.
    pub scatter: bool,
}

/// Axis settings of a plot.
#[derive(Clone, Debug)]
pub struct PlotSpec<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub log_x: bool,
    pub log_y: bool,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (0.1, 1.0) } else { (0.0, 1.0) };
    }
    if log {
        (lo / 1.5, hi * 1.5)
    } else {
        let pad = ((hi - lo) * 0.05).max(1e-12 * hi.abs().max(1.0));
        (lo - pad, hi + pad)
    }
}

/// Renders the series as an SVG document. Points that cannot be drawn (non-finite, or
/// non-positive on a log axis) are left out.
pub fn svg(spec: &PlotSpec<'_>, series: &[Series]) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (720, 460)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let keep = |&(x, y): &(f64, f64)| {
            x.is_finite() && y.is_finite() && (!spec.log_x || x > 0.0) && (!spec.log_y || y > 0.0)
        };
        let xr = range(
            series.iter().flat_map(|s| s.points.iter().map(|p| p.0)),
            spec.log_x,
        );
        let yr = range(
            series
                .iter()
                .flat_map(|s| s.points.iter().filter(|p| keep(p)).map(|p| p.1)),
            spec.log_y,
        );
        macro_rules! draw {
            ($x:expr, $y:expr) => {{
                let mut chart = ChartBuilder::on(&root)
                    .caption(spec.title, ("sans-serif", 18))
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(70)
                    .build_cartesian_2d($x, $y)
                    .expect("valid ranges");
                let _ = chart
                    .configure_mesh()
                    .x_labels(6)
                    .y_labels(8)
                    .x_desc(spec.x_label)
                    .y_desc(spec.y_label)
                    .draw();
                for (i, s) in series.iter().enumerate() {
                    let color = COLORS[i % COLORS.len()];
                    let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(keep).collect();
                    let drawn = if s.scatter {
                        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    } else {
                        chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    };
                    if let Ok(a) = drawn {
                        a.label(s.name.clone()).legend(move |(x, y)| {
                            Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled())
                        });
                    }
                }
                let _ = chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw();
            }};
        }
        match (spec.log_x, spec.log_y) {
            (false, false) => draw!(xr.0..xr.1, yr.0..yr.1),
            (true, false) => draw!((xr.0..xr.1).log_scale(), yr.0..yr.1),
            (false, true) => draw!(xr.0..xr.1, (yr.0..yr.1).log_scale()),
            (true, true) => draw!((xr.0..xr.1).log_scale(), (yr.0..yr.1).log_scale()),
        }
        let _ = root.present();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_series_with_labels() {
        let s = svg(
            &PlotSpec {
                title: "t",
                x_label: "m",
                y_label: "gamma",
                log_x: true,
                log_y: true,
            },
            &[Series {
                name: "line".into(),
                points: vec![(1.0, 1.0), (10.0, 0.1), (0.0, 5.0)],
                scatter: false,
            }],
        );
        assert!(s.starts_with("<svg") && s.contains("</svg>"));
        assert!(s.contains("gamma") && s.contains("line"));
        assert!(s.contains("<polyline") || s.contains("<path"));
    }
}
