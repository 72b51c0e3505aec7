//! Results: samples of single runs, their medians with min–max, the terminal table with
//! kvd / other ratios, the JSON file and the SVG chart.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// Every figure a run can produce, in table order: (key in JSON, label in the table).
pub(crate) const METRICS: &[(&str, &str)] = &[
    ("ops_per_sec", "ops/s"),
    ("p50_us", "p50 µs"),
    ("p99_us", "p99 µs"),
    ("p99.9_us", "p99.9 µs"),
    ("max_us", "max µs"),
    ("server_cpu_s_per_mop", "server CPU s/Mop"),
    ("client_cpu_s_per_mop", "client CPU s/Mop"),
    ("rss_bytes_per_key", "RSS B/key"),
];

/// One run of one scenario against one server.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Sample {
    pub(crate) scenario: String,
    pub(crate) server: String,
    pub(crate) round: usize,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) figures: BTreeMap<&'static str, f64>,
}

impl Sample {
    pub(crate) fn new(requests: u64, errors: u64) -> Sample {
        Sample {
            scenario: String::new(),
            server: String::new(),
            round: 0,
            requests,
            errors,
            figures: BTreeMap::new(),
        }
    }

    /// Sets figure `key` (one of [`METRICS`]) if there is a value.
    pub(crate) fn set(&mut self, key: &'static str, value: Option<f64>) {
        debug_assert!(
            METRICS.iter().any(|(k, _)| *k == key),
            "unknown figure {key}"
        );
        if let Some(v) = value.filter(|v| v.is_finite()) {
            self.figures.insert(key, v);
        }
    }
}

/// Median and range of one figure over the runs.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub(crate) struct Stat {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) runs: usize,
}

impl Stat {
    pub(crate) fn of(values: &[f64]) -> Option<Stat> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
            runs: n,
        })
    }
}

/// All runs of one scenario against one server, condensed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Summary {
    pub(crate) scenario: String,
    pub(crate) server: String,
    pub(crate) errors: u64,
    pub(crate) figures: BTreeMap<&'static str, Stat>,
}

/// Condenses samples per (scenario, server), keeping the given orders.
pub(crate) fn summarize(
    samples: &[Sample],
    scenarios: &[&str],
    servers: &[String],
) -> Vec<Summary> {
    let mut out = Vec::new();
    for sc in scenarios {
        for srv in servers {
            let runs: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.scenario == *sc && s.server == *srv)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let figures = METRICS
                .iter()
                .filter_map(|(k, _)| {
                    let vals: Vec<f64> = runs
                        .iter()
                        .filter_map(|s| s.figures.get(k).copied())
                        .collect();
                    Some((*k, Stat::of(&vals)?))
                })
                .collect();
            out.push(Summary {
                scenario: sc.to_string(),
                server: srv.clone(),
                errors: runs.iter().map(|s| s.errors).sum(),
                figures,
            });
        }
    }
    out
}

/// A figure in a short human form.
pub(crate) fn fmt_value(key: &str, v: f64) -> String {
    match key {
        "ops_per_sec" => {
            if v >= 1e6 {
                format!("{:.2}M", v / 1e6)
            } else if v >= 1e3 {
                format!("{:.1}k", v / 1e3)
            } else {
                format!("{v:.0}")
            }
        }
        "server_cpu_s_per_mop" | "client_cpu_s_per_mop" => format!("{v:.2}"),
        "rss_bytes_per_key" => format!("{v:.1}"),
        _ if v >= 100.0 => format!("{v:.0}"),
        _ => format!("{v:.1}"),
    }
}

fn fmt_stat(key: &str, s: &Stat) -> String {
    if s.runs > 1 {
        format!(
            "{} ({}–{})",
            fmt_value(key, s.median),
            fmt_value(key, s.min),
            fmt_value(key, s.max)
        )
    } else {
        fmt_value(key, s.median)
    }
}

/// The terminal table: one block per scenario, a column per server, and a `kvd/<other>` ratio
/// column per other server when `kvd` (the first server named `kvd`) took part.
pub(crate) fn table(
    summaries: &[Summary],
    scenarios: &[(&str, &str)],
    servers: &[String],
) -> String {
    let kvd = servers.iter().find(|s| s.as_str() == "kvd");
    let others: Vec<&String> = servers.iter().filter(|s| Some(*s) != kvd).collect();
    let mut out = String::new();
    for (sc, about) in scenarios {
        let rows: Vec<&Summary> = summaries.iter().filter(|s| s.scenario == *sc).collect();
        if rows.is_empty() {
            continue;
        }
        let by_server = |name: &str| rows.iter().find(|s| s.server == name).copied();
        let _ = writeln!(out, "\n{sc} — {about}");
        let mut header = format!("  {:<18}", "figure");
        for srv in servers {
            let _ = write!(header, "{srv:<28}");
        }
        if let Some(k) = kvd {
            for o in &others {
                let _ = write!(header, "{:>12}", format!("{k}/{o}"));
            }
        }
        let _ = writeln!(out, "{}", header.trim_end());
        for (key, label) in METRICS {
            if !rows.iter().any(|s| s.figures.contains_key(key)) {
                continue;
            }
            let mut line = format!("  {label:<18}");
            for srv in servers {
                let cell = by_server(srv)
                    .and_then(|s| s.figures.get(key))
                    .map_or_else(|| "-".to_string(), |st| fmt_stat(key, st));
                let _ = write!(line, "{cell:<28}");
            }
            if let Some(k) = kvd {
                for o in &others {
                    let ratio = ratio(by_server(k), by_server(o), key);
                    let _ = write!(
                        line,
                        "{:>12}",
                        ratio.map_or_else(|| "-".into(), |r| format!("{r:.2}"))
                    );
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        for s in &rows {
            if s.errors > 0 {
                let _ = writeln!(
                    out,
                    "  ! {} answered {} requests with an error",
                    s.server, s.errors
                );
            }
        }
    }
    out
}

fn ratio(a: Option<&Summary>, b: Option<&Summary>, key: &str) -> Option<f64> {
    let (x, y) = (a?.figures.get(key)?.median, b?.figures.get(key)?.median);
    (y != 0.0).then(|| x / y)
}

/// Same table as Markdown, for BENCHMARKS.md.
pub(crate) fn markdown(
    summaries: &[Summary],
    scenarios: &[(&str, &str)],
    servers: &[String],
) -> String {
    let kvd = servers.iter().find(|s| s.as_str() == "kvd");
    let others: Vec<&String> = servers.iter().filter(|s| Some(*s) != kvd).collect();
    let mut out = String::from("| scenario | figure |");
    for srv in servers {
        let _ = write!(out, " {srv} |");
    }
    if let Some(k) = kvd {
        for o in &others {
            let _ = write!(out, " {k}/{o} |");
        }
    }
    out.push('\n');
    let cols = 2 + servers.len() + if kvd.is_some() { others.len() } else { 0 };
    out.push_str(&"|---".repeat(cols));
    out.push_str("|\n");
    for (sc, _) in scenarios {
        let rows: Vec<&Summary> = summaries.iter().filter(|s| s.scenario == *sc).collect();
        let by_server = |name: &str| rows.iter().find(|s| s.server == name).copied();
        for (key, label) in METRICS {
            if !rows.iter().any(|s| s.figures.contains_key(key)) {
                continue;
            }
            let _ = write!(out, "| {sc} | {label} |");
            for srv in servers {
                let cell = by_server(srv)
                    .and_then(|s| s.figures.get(key))
                    .map_or_else(|| "-".to_string(), |st| fmt_stat(key, st));
                let _ = write!(out, " {cell} |");
            }
            if let Some(k) = kvd {
                for o in &others {
                    let r = ratio(by_server(k), by_server(o), key);
                    let _ = write!(
                        out,
                        " {} |",
                        r.map_or_else(|| "-".into(), |r| format!("{r:.2}"))
                    );
                }
            }
            out.push('\n');
        }
    }
    out
}

const COLORS: &[&str] = &[
    "#d9480f", "#1c7ed6", "#2f9e44", "#7048e8", "#f08c00", "#495057",
];

/// An SVG chart: throughput and p99 latency per scenario, one bar per server, with min–max
/// whiskers. Hand-written SVG keeps xtask free of a plotting library.
pub(crate) fn svg(
    summaries: &[Summary],
    scenarios: &[&str],
    servers: &[String],
    title: &str,
) -> String {
    let scenarios: Vec<&str> = scenarios
        .iter()
        .copied()
        .filter(|sc| {
            summaries
                .iter()
                .any(|s| s.scenario == *sc && s.figures.contains_key("p99_us"))
        })
        .collect();
    let (panel_w, panel_h, left, top) = (960.0, 260.0, 80.0, 50.0);
    let group_w = panel_w / scenarios.len().max(1) as f64;
    let bar_w = (group_w * 0.8 / servers.len().max(1) as f64).min(40.0);
    let height = top + 2.0 * (panel_h + 110.0) + 30.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="12">"#,
        left + panel_w + 20.0
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{left}" y="22" font-size="15" font-weight="bold">{}</text>"#,
        xml(title)
    );
    for (i, srv) in servers.iter().enumerate() {
        let x = left + 420.0 + i as f64 * 150.0;
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="10" width="12" height="12" fill="{}"/><text x="{}" y="21">{}</text>"#,
            COLORS[i % COLORS.len()],
            x + 16.0,
            xml(srv)
        );
    }
    for (p, (key, label)) in [
        (
            "ops_per_sec",
            "throughput (ops/s; memory: load rate), median, whiskers min–max",
        ),
        ("p99_us", "p99 latency (µs, log scale)"),
    ]
    .into_iter()
    .enumerate()
    {
        let y0 = top + p as f64 * (panel_h + 110.0);
        let max = summaries
            .iter()
            .filter_map(|s| s.figures.get(key).map(|st| st.max))
            .fold(0.0_f64, f64::max)
            .max(1.0);
        // Latencies span from tens of µs (pipeline 1) to tens of ms (1,000 connections), so
        // that panel is logarithmic, from 10 µs up; throughput is linear from zero.
        let _ = writeln!(
            out,
            r#"<text x="{left}" y="{}" font-weight="bold">{label}</text>"#,
            y0 + 4.0
        );
        let log = key == "p99_us";
        let (lo, hi) = (1.0_f64, max.log10().ceil().max(2.0));
        let scale = |v: f64| {
            if log {
                panel_h * ((v.max(10.0).log10() - lo) / (hi - lo)).clamp(0.0, 1.0)
            } else {
                panel_h * v / max
            }
        };
        let ticks: Vec<f64> = if log {
            (1..=hi as i32).map(|e| 10f64.powi(e)).collect()
        } else {
            (0..=4).map(|t| max * f64::from(t) / 4.0).collect()
        };
        for v in ticks {
            let y = y0 + 10.0 + panel_h - scale(v);
            let _ = writeln!(
                out,
                r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                left + panel_w,
                left - 6.0,
                y + 4.0,
                fmt_value(key, v)
            );
        }
        for (g, sc) in scenarios.iter().enumerate() {
            let gx = left + g as f64 * group_w + group_w * 0.1;
            for (i, srv) in servers.iter().enumerate() {
                let Some(st) = summaries
                    .iter()
                    .find(|s| s.scenario == *sc && s.server == *srv)
                    .and_then(|s| s.figures.get(key))
                else {
                    continue;
                };
                let x = gx + i as f64 * bar_w;
                let base = y0 + 10.0 + panel_h;
                let _ = writeln!(
                    out,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                    base - scale(st.median),
                    bar_w - 2.0,
                    scale(st.median),
                    COLORS[i % COLORS.len()],
                    xml(sc),
                    xml(srv),
                    fmt_value(key, st.median)
                );
                let cx = x + (bar_w - 2.0) / 2.0;
                let _ = writeln!(
                    out,
                    r#"<line x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}" stroke="black"/>"#,
                    base - scale(st.min),
                    base - scale(st.max)
                );
            }
            let lx = left + g as f64 * group_w + group_w / 2.0;
            let ly = y0 + 10.0 + panel_h + 12.0;
            let _ = writeln!(
                out,
                r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="end" transform="rotate(-35 {lx:.1} {ly:.1})">{}</text>"#,
                xml(sc)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(sc: &str, srv: &str, ops: f64, p99: f64) -> Sample {
        let mut s = Sample::new(10, 0);
        s.scenario = sc.into();
        s.server = srv.into();
        s.set("ops_per_sec", Some(ops));
        s.set("p99_us", Some(p99));
        s
    }

    #[test]
    fn median_and_range() {
        assert_eq!(Stat::of(&[]), None);
        assert_eq!(
            Stat::of(&[3.0, 1.0, 2.0]),
            Some(Stat {
                median: 2.0,
                min: 1.0,
                max: 3.0,
                runs: 3
            })
        );
        assert_eq!(
            Stat::of(&[4.0, 1.0, 2.0, 10.0]),
            Some(Stat {
                median: 3.0,
                min: 1.0,
                max: 10.0,
                runs: 4
            })
        );
    }

    #[test]
    fn values_format_compactly() {
        assert_eq!(fmt_value("ops_per_sec", 1_234_567.0), "1.23M");
        assert_eq!(fmt_value("ops_per_sec", 98_765.0), "98.8k");
        assert_eq!(fmt_value("p99_us", 1234.4), "1234");
        assert_eq!(fmt_value("p50_us", 12.34), "12.3");
        assert_eq!(fmt_value("rss_bytes_per_key", 71.04), "71.0");
    }

    #[test]
    fn table_shows_medians_ranges_and_ratios() {
        let samples = vec![
            sample("get", "kvd", 200e3, 300.0),
            sample("get", "kvd", 220e3, 310.0),
            sample("get", "kvd", 210e3, 290.0),
            sample("get", "redis-server", 100e3, 600.0),
            sample("get", "redis-server", 105e3, 620.0),
            sample("get", "redis-server", 95e3, 580.0),
        ];
        let servers = vec!["kvd".to_string(), "redis-server".to_string()];
        let sums = summarize(&samples, &["get"], &servers);
        let t = table(&sums, &[("get", "GET things")], &servers);
        let expected = "\nget — GET things\n  \
            figure            kvd                         redis-server                kvd/redis-server\n  \
            ops/s             210.0k (200.0k–220.0k)      100.0k (95.0k–105.0k)               2.10\n  \
            p99 µs            300 (290–310)               600 (580–620)                       0.50\n";
        assert_eq!(t, expected);
        let md = markdown(&sums, &[("get", "GET things")], &servers);
        assert!(
            md.contains("| get | ops/s | 210.0k (200.0k–220.0k) | 100.0k (95.0k–105.0k) | 2.10 |"),
            "{md}"
        );
    }

    #[test]
    fn table_without_kvd_has_no_ratio() {
        let samples = vec![sample("get", "redis-server", 100e3, 600.0)];
        let servers = vec!["redis-server".to_string()];
        let sums = summarize(&samples, &["get"], &servers);
        let t = table(&sums, &[("get", "x")], &servers);
        assert!(t.contains("  ops/s             100.0k\n"), "{t}");
        assert!(!t.contains("kvd/"), "{t}");
    }

    #[test]
    fn svg_has_a_bar_per_server_and_scenario() {
        let samples = vec![
            sample("get", "kvd", 200e3, 300.0),
            sample("get", "redis", 100e3, 600.0),
        ];
        let servers = vec!["kvd".to_string(), "redis".to_string()];
        let sums = summarize(&samples, &["get"], &servers);
        let svg = svg(&sums, &["get"], &servers, "t");
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<title>").count(), 4);
    }
}
