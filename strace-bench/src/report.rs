//! The numbers: medians, spreads, ratios to the baseline, latency
//! percentiles, and the table. Pure functions.
use std::fmt::Write as _;

/// Median and min–max of some measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// A run that could not measure a row (perf failed to start) records this,
/// so the row's later runs still pair with their own baselines.
pub const NOT_MEASURED: f64 = f64::NAN;

/// Of the runs that measured (see NOT_MEASURED).
pub fn spread(values: &[f64]) -> Option<Spread> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len().is_multiple_of(2) { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] };
    Some(Spread { median, min: v[0], max: v[v.len() - 1] })
}

/// The `p`-th percentile (0–100) by nearest rank.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    Some(v[rank.min(v.len()) - 1])
}

/// How much of the floor's overhead a row costs: (row − base) / (floor − base).
fn overhead_vs_floor(row: f64, floor: f64, base: f64) -> Option<f64> {
    let floor_cost = floor - base;
    (floor_cost > 0.0).then(|| (row - base) / floor_cost)
}

/// Runs paired: run i of `row` against run i of `base` (a row measured in
/// fewer runs is paired with the first ones). Each run measures every row
/// back to back, so pairing cancels what the machine does between runs
/// (one run of a full benchmark came out ~12% faster on every row).
fn paired(row: &[f64], base: &[f64], f: impl Fn(f64, f64) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = row.iter().zip(base).filter_map(|(&r, &b)| f(r, b)).collect();
    spread(&v).map(|s| s.median)
}

/// The median over runs of each run's row / baseline.
pub fn paired_ratio(row: &[f64], base: &[f64]) -> Option<f64> {
    paired(row, base, |r, b| (b > 0.0).then(|| r / b))
}

/// The median over runs of each run's row − baseline.
pub fn paired_difference(row: &[f64], base: &[f64]) -> Option<f64> {
    paired(row, base, |r, b| Some(r - b))
}

/// The median over runs of each run's overhead_vs_floor.
pub fn paired_overhead_vs_floor(row: &[f64], floor: &[f64], base: &[f64]) -> Option<f64> {
    let v: Vec<f64> = row.iter().zip(floor).zip(base).filter_map(|((&r, &f), &b)| overhead_vs_floor(r, f, b)).collect();
    spread(&v).map(|s| s.median)
}

/// One line of the results table.
pub struct Row {
    pub name: String,
    /// ns per call, per workload (getppid, mix); `None` if not measured.
    pub cells: Vec<Option<Spread>>,
    /// Per workload, the row against the baseline (`paired_ratio`).
    pub ratios: Vec<Option<f64>>,
    pub note: String,
}

/// A markdown table: each cell `median ns (min–max), ×ratio to the baseline`.
pub fn table(workloads: &[&str], rows: &[Row]) -> String {
    let mut s = String::from("| row |");
    for w in workloads {
        write!(s, " {w} ns/call (min–max) | × baseline |").unwrap();
    }
    s.push_str(" notes |\n|---|");
    for _ in workloads {
        s.push_str("---|---|");
    }
    s.push_str("---|\n");
    for r in rows {
        write!(s, "| {} |", r.name).unwrap();
        for (i, c) in r.cells.iter().enumerate() {
            match (c, r.ratios.get(i).copied().flatten()) {
                (Some(c), Some(x)) => write!(s, " {:.1} ({:.1}–{:.1}) | {x:.2} |", c.median, c.min, c.max).unwrap(),
                (Some(c), None) => write!(s, " {:.1} ({:.1}–{:.1}) | |", c.median, c.min, c.max).unwrap(),
                _ => s.push_str(" – | – |"),
            }
        }
        writeln!(s, " {} |", r.note).unwrap();
    }
    s
}

/// Replaces the text between `start` and `end` markers in `doc`.
pub fn replace_between(doc: &str, start: &str, end: &str, new: &str) -> Option<String> {
    let a = doc.find(start)? + start.len();
    let b = a + doc[a..].find(end)?;
    Some(format!("{}\n{}\n{}", &doc[..a], new.trim(), &doc[b..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_spreads() {
        assert_eq!(spread(&[3.0, 1.0, 2.0]), Some(Spread { median: 2.0, min: 1.0, max: 3.0 }));
        assert_eq!(spread(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert_eq!(spread(&[]), None);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn overhead_relative_to_the_floor() {
        assert_eq!(overhead_vs_floor(120.0, 115.0, 75.0), Some(45.0 / 40.0));
        assert_eq!(overhead_vs_floor(80.0, 75.0, 75.0), None, "no floor cost, no ratio");
    }

    #[test]
    fn runs_are_paired_with_their_own_baseline() {
        // The machine ran 10% faster in the third run, on every row.
        let base = [100.0, 100.0, 90.0];
        let row = [150.0, 152.0, 135.0];
        let floor = [140.0, 140.0, 126.0];
        assert_eq!(paired_ratio(&row, &base), Some(1.5));
        assert_eq!(paired_difference(&row, &base), Some(50.0));
        assert_eq!(paired_overhead_vs_floor(&row, &floor, &base), Some(1.25));
        // A row run in the first runs only is paired with those.
        assert_eq!(paired_ratio(&[200.0], &base), Some(2.0));
        assert_eq!(paired_ratio(&[], &base), None);
        // A run that could not measure the row leaves its place: the next
        // run pairs with its own baseline, not the one before.
        let base = [100.0, 200.0, 300.0];
        assert_eq!(paired_ratio(&[NOT_MEASURED, 400.0, 600.0], &base), Some(2.0));
        assert_eq!(spread(&[NOT_MEASURED, 400.0, 600.0]), Some(Spread { median: 500.0, min: 400.0, max: 600.0 }));
        assert_eq!(spread(&[NOT_MEASURED]), None);
    }

    #[test]
    fn table_shows_each_rows_ratio() {
        let s = |m| Some(Spread { median: m, min: m - 1.0, max: m + 1.0 });
        let rows = vec![
            Row {
                name: "baseline".into(),
                cells: vec![s(75.0), None],
                ratios: vec![Some(1.0), None],
                note: String::new(),
            },
            Row {
                name: "watched".into(),
                cells: vec![s(150.0), None],
                ratios: vec![Some(2.0), None],
                note: "ok".into(),
            },
        ];
        let t = table(&["getppid", "mix"], &rows);
        assert!(t.contains("| watched | 150.0 (149.0–151.0) | 2.00 | – | – | ok |"), "{t}");
    }

    #[test]
    fn replaces_a_marked_block() {
        let doc = "a\n<!-- s -->\nold\n<!-- e -->\nz";
        assert_eq!(
            replace_between(doc, "<!-- s -->", "<!-- e -->", "new").unwrap(),
            "a\n<!-- s -->\nnew\n<!-- e -->\nz"
        );
        assert_eq!(replace_between("no markers", "<!-- s -->", "<!-- e -->", "x"), None);
    }
}
