//! Self-contained SVG line and scatter plots (plotters' SVG backend, no system fonts):
//! compact tick labels ("100", "1e6", never "100.0"), optional interval bars, solid, dashed
//! or dotted lines with or without markers, circles or crosses, series dodged sideways so
//! that intervals at the same x do not overplot, and the legend in its own column beside
//! the plot, never over the data.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// How a series' points are joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
    Dotted,
    /// Not joined (markers only).
    None,
}

/// The mark at each point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    None,
    Circle,
    Cross,
}

/// One named series of (x, y) points.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub stroke: Stroke,
    pub marker: Marker,
    /// Vertical interval bars (x, low, high).
    pub intervals: Vec<(f64, f64, f64)>,
}

impl Series {
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            stroke: Stroke::Solid,
            marker: Marker::None,
            intervals: Vec::new(),
        }
    }
    /// Circles, not joined.
    pub fn dots(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            stroke: Stroke::None,
            marker: Marker::Circle,
            ..Self::line(name, points)
        }
    }
    /// Crosses, not joined (e.g. values that cannot be drawn on the axis, marked apart).
    pub fn crosses(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            stroke: Stroke::None,
            marker: Marker::Cross,
            ..Self::line(name, points)
        }
    }
    pub fn with_intervals(mut self, intervals: Vec<(f64, f64, f64)>) -> Self {
        self.intervals = intervals;
        self
    }
    /// Circles at the points of a line.
    pub fn with_markers(mut self) -> Self {
        self.marker = Marker::Circle;
        self
    }
    pub fn dashed(mut self) -> Self {
        self.stroke = Stroke::Dashed;
        self
    }
    pub fn dotted(mut self) -> Self {
        self.stroke = Stroke::Dotted;
        self
    }
}

/// Axis settings of a plot.
#[derive(Clone, Debug)]
pub struct PlotSpec<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub log_x: bool,
    pub log_y: bool,
    /// Ticks at exactly these x values (e.g. every width), instead of automatic ones.
    pub x_ticks: Vec<f64>,
    /// Shift of neighbouring series along x, as a fraction of the axis (a factor on a log
    /// axis): series i of N moves by (i - (N - 1)/2) times it; 0 = none.
    pub dodge: f64,
}

impl<'a> PlotSpec<'a> {
    pub fn new(
        title: &'a str,
        x_label: &'a str,
        y_label: &'a str,
        log_x: bool,
        log_y: bool,
    ) -> Self {
        Self {
            title,
            x_label,
            y_label,
            log_x,
            log_y,
            x_ticks: Vec::new(),
            dodge: 0.0,
        }
    }
    pub fn log_log(title: &'a str, x_label: &'a str, y_label: &'a str) -> Self {
        Self::new(title, x_label, y_label, true, true)
    }
    pub fn with_x_ticks(mut self, ticks: Vec<f64>) -> Self {
        self.x_ticks = ticks;
        self
    }
    pub fn with_dodge(mut self, dodge: f64) -> Self {
        self.dodge = dodge;
        self
    }
}

/// The series moved sideways by `spec.dodge` (points and intervals alike).
fn dodged(spec: &PlotSpec<'_>, series: &[Series], span: (f64, f64)) -> Vec<Series> {
    let n = series.len() as f64;
    series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let offset = (i as f64 - (n - 1.0) / 2.0) * spec.dodge;
            let shift = |x: f64| {
                if spec.dodge == 0.0 {
                    x
                } else if spec.log_x {
                    x * (offset * (span.1 / span.0).ln()).exp()
                } else {
                    x + offset * (span.1 - span.0)
                }
            };
            Series {
                points: s.points.iter().map(|&(x, y)| (shift(x), y)).collect(),
                intervals: s
                    .intervals
                    .iter()
                    .map(|&(x, lo, hi)| (shift(x), lo, hi))
                    .collect(),
                ..s.clone()
            }
        })
        .collect()
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
    RGBColor(127, 127, 127),
];

/// A tick label: integers without ".0", powers of ten as "1e6", others with 3 significant
/// digits.
pub fn tick_label(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    let log = a.log10();
    if (log - log.round()).abs() < 1e-9 && !(-2.0..=4.0).contains(&log.round()) {
        return format!("{}1e{}", if v < 0.0 { "-" } else { "" }, log.round() as i32);
    }
    if (1e-3..1e5).contains(&a) {
        let s = format!(
            "{:.*}",
            (3 - log.floor() as i32 - 1).clamp(0, 6) as usize,
            v
        );
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{v:.1e}").replace(".0e", "e")
    }
}

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
        let pad = ((hi - lo) * 0.06).max(1e-12 * hi.abs().max(1.0));
        (lo - pad, hi + pad)
    }
}

/// Renders the series as an SVG document. Points that cannot be drawn (non-finite, or
/// non-positive on a log axis) are left out.
pub fn svg(spec: &PlotSpec<'_>, series: &[Series]) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (820, 460)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let (plot_area, legend_area) = root.split_horizontally(600);
        let keep = |&(x, y): &(f64, f64)| {
            x.is_finite() && y.is_finite() && (!spec.log_x || x > 0.0) && (!spec.log_y || y > 0.0)
        };
        let xr = range(
            series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0))
                .chain(spec.x_ticks.iter().copied()),
            spec.log_x,
        );
        // Series moved sideways by the dodge (the axis keeps the undodged range, widened a
        // little on a dodged plot so that the outer series stay inside).
        let moved = dodged(spec, series, xr);
        let series: &[Series] = &moved;
        let xr = if spec.dodge == 0.0 {
            xr
        } else {
            range(
                series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p.0))
                    .chain(spec.x_ticks.iter().copied()),
                spec.log_x,
            )
        };
        let yr = range(
            series.iter().flat_map(|s| {
                s.points
                    .iter()
                    .filter(|p| keep(p))
                    .map(|p| p.1)
                    .chain(s.intervals.iter().flat_map(|i| [i.1, i.2]))
            }),
            spec.log_y,
        );
        // A tick within rounding of 0 (plotters may place one at -1.1e-16) reads "0".
        let snapped =
            |span: f64| move |v: &f64| tick_label(if v.abs() < 1e-9 * span { 0.0 } else { *v });
        let (x_formatter, formatter) = (snapped(xr.1 - xr.0), snapped(yr.1 - yr.0));
        // With explicit x ticks the mesh's own x labels are blanked (plotters still places
        // some on a log axis) and each tick is written centred under its value.
        let blank = |_: &f64| String::new();
        macro_rules! draw {
            ($x:expr, $y:expr) => {{
                let mut chart = ChartBuilder::on(&plot_area)
                    .caption(spec.title, ("sans-serif", 17))
                    .margin(14)
                    .x_label_area_size(42)
                    .y_label_area_size(72)
                    .build_cartesian_2d($x, $y)
                    .expect("valid ranges");
                let mut mesh = chart.configure_mesh();
                mesh.y_labels(7)
                    .x_desc(spec.x_label)
                    .y_desc(spec.y_label)
                    .y_label_formatter(&formatter);
                if spec.x_ticks.is_empty() {
                    mesh.x_labels(6).x_label_formatter(&x_formatter);
                } else {
                    mesh.x_labels(0).x_label_formatter(&blank);
                }
                let _ = mesh.draw();
                // Below the axis's tick marks, in pixels.
                let tick_style = TextStyle::from(("sans-serif", 12).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Top));
                for &x in &spec.x_ticks {
                    let (px, py) = chart.backend_coord(&(x, yr.0));
                    let _ =
                        plot_area.draw(&Text::new(tick_label(x), (px, py + 9), tick_style.clone()));
                }
                for (i, s) in series.iter().enumerate() {
                    let color = COLORS[i % COLORS.len()];
                    let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(keep).collect();
                    let line = |size: u32, gap: u32| {
                        DashedLineSeries::new(pts.clone(), size, gap, color.stroke_width(2))
                    };
                    match s.stroke {
                        Stroke::Solid => {
                            let _ = chart
                                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)));
                        }
                        Stroke::Dashed => {
                            let _ = chart.draw_series(line(8, 5));
                        }
                        Stroke::Dotted => {
                            let _ = chart.draw_series(line(2, 4));
                        }
                        Stroke::None => {}
                    }
                    match s.marker {
                        Marker::Circle => {
                            let _ = chart.draw_series(
                                pts.iter().map(|&p| Circle::new(p, 3, color.filled())),
                            );
                        }
                        Marker::Cross => {
                            let _ = chart.draw_series(
                                pts.iter().map(|&p| Cross::new(p, 4, color.stroke_width(2))),
                            );
                        }
                        Marker::None => {}
                    }
                    let bars: Vec<(f64, f64, f64)> = s
                        .intervals
                        .iter()
                        .copied()
                        .filter(|&(x, lo, hi)| keep(&(x, lo)) && keep(&(x, hi)))
                        .collect();
                    let _ = chart.draw_series(bars.iter().map(|&(x, lo, hi)| {
                        PathElement::new(vec![(x, lo), (x, hi)], color.stroke_width(1))
                    }));
                }
            }};
        }
        match (spec.log_x, spec.log_y) {
            (false, false) => draw!(xr.0..xr.1, yr.0..yr.1),
            (true, false) => draw!((xr.0..xr.1).log_scale(), yr.0..yr.1),
            (false, true) => draw!(xr.0..xr.1, (yr.0..yr.1).log_scale()),
            (true, true) => draw!((xr.0..xr.1).log_scale(), (yr.0..yr.1).log_scale()),
        }
        for (i, s) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let y = 40 + 20 * i as i32;
            let _ = legend_area.draw(&Rectangle::new([(6, y - 5), (20, y + 5)], color.filled()));
            let _ = legend_area.draw(&Text::new(
                s.name.clone(),
                (26, y - 7),
                ("sans-serif", 12).into_font(),
            ));
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
            &PlotSpec::log_log("t", "m", "gamma"),
            &[
                Series::line("line", vec![(1.0, 1.0), (10.0, 0.1), (0.0, 5.0)])
                    .with_intervals(vec![(10.0, 0.05, 0.2)]),
            ],
        );
        assert!(s.starts_with("<svg") && s.contains("</svg>"));
        assert!(s.contains("gamma") && s.contains("line"));
        assert!(s.contains("<polyline") || s.contains("<path"));
    }

    /// The contents of the SVG's text elements that read as numbers, in order.
    fn numeric_labels(svg: &str) -> Vec<f64> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| t.split_once('>')?.1.split_once("</text>"))
            .filter_map(|(content, _)| content.trim().parse::<f64>().ok())
            .collect()
    }

    #[test]
    fn explicit_x_ticks_are_written_once_each_and_alone() {
        let ticks = vec![10.0, 30.0, 100.0, 300.0, 1000.0];
        let pts: Vec<(f64, f64)> = ticks.iter().map(|&x| (x, 0.2 + x / 1e4)).collect();
        let s = svg(
            &PlotSpec::log_log("t", "n", "y").with_x_ticks(ticks.clone()),
            &[Series::line("line", pts)],
        );
        // y stays in (0.1, 0.5), so labels >= 1 are x ticks.
        let labels: Vec<f64> = numeric_labels(&s)
            .into_iter()
            .filter(|v| *v >= 1.0)
            .collect();
        assert_eq!(labels, ticks, "{labels:?}");
    }

    #[test]
    fn a_tick_at_zero_reads_zero() {
        // A linear axis from about -0.5 to 0.1, where plotters computes its tick at 0 as
        // -1.1e-16 (the MNIST change plot of the first full run).
        let pts = vec![
            (50.0, -0.35),
            (100.0, -0.32),
            (200.0, 0.03),
            (500.0, -0.48),
            (600.0, 0.1),
        ];
        let s = svg(
            &PlotSpec::new("t", "n", "change", false, false),
            &[Series::line("line", pts)],
        );
        let tiny: Vec<f64> = numeric_labels(&s)
            .into_iter()
            .filter(|v| *v != 0.0 && v.abs() < 1e-6)
            .collect();
        assert!(tiny.is_empty(), "{tiny:?}");
    }

    #[test]
    fn dodged_series_move_apart_symmetrically_with_their_intervals() {
        let spec = PlotSpec::new("t", "x", "y", true, false).with_dodge(0.1);
        let series = vec![
            Series::line("a", vec![(100.0, 1.0)]).with_intervals(vec![(100.0, 0.5, 1.5)]),
            Series::line("b", vec![(100.0, 1.0)]),
        ];
        let d = dodged(&spec, &series, (10.0, 1000.0));
        let (a, b) = (d[0].points[0].0, d[1].points[0].0);
        assert!(a < 100.0 && b > 100.0, "{a} {b}");
        // Symmetric on the log axis.
        assert!((a * b - 1e4).abs() < 1e-6);
        assert_eq!(d[0].intervals[0].0, a);
        // No dodge: unchanged.
        let same = dodged(
            &PlotSpec::new("t", "x", "y", false, false),
            &series,
            (0.0, 1.0),
        );
        assert_eq!(same[0].points, series[0].points);
        // Every style renders.
        let all = svg(
            &spec,
            &[
                Series::line("l", vec![(10.0, 1.0), (100.0, 2.0)])
                    .dashed()
                    .with_markers(),
                Series::line("m", vec![(10.0, 1.0), (100.0, 2.0)]).dotted(),
                Series::crosses("c", vec![(30.0, 1.5)]),
            ],
        );
        assert!(all.contains("</svg>"));
    }

    #[test]
    fn tick_labels_are_compact() {
        for (v, want) in [
            (100.0, "100"),
            (1_000_000.0, "1e6"),
            (0.5, "0.5"),
            (1e-5, "1e-5"),
            (2.5e-6, "2.5e-6"),
            (0.0316, "0.0316"),
            (20.0, "20"),
            (1234.0, "1234"),
            (-3.0, "-3"),
        ] {
            assert_eq!(tick_label(v), want, "{v}");
        }
    }
}
