//! Least-squares fits of power laws, ln y = a + b ln x, and where a fitted law crosses a level.

/// A fit ln y = intercept + slope ln x, with the slope's standard error.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct LogLogFit {
    pub intercept: f64,
    pub slope: f64,
    /// Standard error of the slope (NaN with 2 points).
    pub slope_se: f64,
    pub points: usize,
}

impl LogLogFit {
    pub fn at(&self, x: f64) -> f64 {
        (self.intercept + self.slope * x.ln()).exp()
    }
}

/// Least-squares fit of ln y on ln x over the points with x, y > 0 (None with fewer than
/// 2 such points or a single x).
pub fn log_log_fit(points: &[(f64, f64)]) -> Option<LogLogFit> {
    let p: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0 && x.is_finite() && y.is_finite())
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    if p.len() < 2 {
        return None;
    }
    let n = p.len() as f64;
    let mx = p.iter().map(|q| q.0).sum::<f64>() / n;
    let my = p.iter().map(|q| q.1).sum::<f64>() / n;
    let sxx: f64 = p.iter().map(|q| (q.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = p.iter().map(|q| (q.0 - mx) * (q.1 - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let rss: f64 = p
        .iter()
        .map(|q| (q.1 - intercept - slope * q.0).powi(2))
        .sum();
    let slope_se = if p.len() > 2 {
        (rss / (n - 2.0) / sxx).sqrt()
    } else {
        f64::NAN
    };
    Some(LogLogFit {
        intercept,
        slope,
        slope_se,
        points: p.len(),
    })
}

/// The x where the fitted law reaches `level` (> 0); None for a flat fit.
pub fn crossing(fit: &LogLogFit, level: f64) -> Option<f64> {
    (fit.slope != 0.0 && level > 0.0).then(|| ((level.ln() - fit.intercept) / fit.slope).exp())
}
