//! Results: samples of single runs, their medians with min–max, the terminal table with
//! kvd / other ratios, the JSON file and the SVG chart.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::coord::Shift;
use plotters::prelude::*;
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

/// One colour per server, in `servers` order.
const COLORS: &[RGBColor] = &[
    RGBColor(0xd9, 0x48, 0x0f),
    RGBColor(0x1c, 0x7e, 0xd6),
    RGBColor(0x2f, 0x9e, 0x44),
    RGBColor(0x70, 0x48, 0xe8),
    RGBColor(0xf0, 0x8c, 0x00),
    RGBColor(0x49, 0x50, 0x57),
];

/// An SVG chart: throughput and p99 latency per scenario, one bar per server, with min–max
/// whiskers, drawn with `plotters`.
pub(crate) fn svg(
    summaries: &[Summary],
    scenarios: &[&str],
    servers: &[String],
    title: &str,
) -> anyhow::Result<String> {
    let scenarios: Vec<&str> = scenarios
        .iter()
        .copied()
        .filter(|sc| {
            summaries
                .iter()
                .any(|s| s.scenario == *sc && s.figures.contains_key("p99_us"))
        })
        .collect();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1040, 760)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 18))?;
        let panels = root.split_evenly((2, 1));
        for (panel, key) in panels.iter().zip(["ops_per_sec", "p99_us"]) {
            draw_panel(panel, summaries, &scenarios, servers, key)?;
        }
        root.present()?;
    }
    Ok(out)
}

/// One panel of the chart: `key` for every scenario and server. Latencies span from tens of µs
/// (pipeline 1) to tens of ms (1,000 connections), so that panel is logarithmic; throughput is
/// linear from zero.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    summaries: &[Summary],
    scenarios: &[&str],
    servers: &[String],
    key: &str,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let stat = |sc: &str, srv: &str| {
        summaries
            .iter()
            .find(|s| s.scenario == sc && s.server == srv)
            .and_then(|s| s.figures.get(key))
    };
    let max = summaries
        .iter()
        .filter_map(|s| s.figures.get(key).map(|st| st.max))
        .fold(1.0_f64, f64::max);
    let groups = scenarios.len().max(1) as f64;
    let bar_w = 0.8 / servers.len().max(1) as f64;
    let caption = if key == "p99_us" {
        "p99 latency (µs, log scale), median with min–max"
    } else {
        "throughput (ops/s; memory: load rate), median with min–max"
    };
    let label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            scenarios.get(i as usize).copied().unwrap_or("").to_owned()
        } else {
            String::new()
        }
    };
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, ("sans-serif", 14))
        .margin(10)
        .x_label_area_size(60)
        .y_label_area_size(70);
    // The two panels differ only in their y coordinate type (linear or logarithmic), which a
    // closure cannot be generic over; a local macro draws either.
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(scenarios.len().max(1))
                .x_label_formatter(&label)
                .y_label_formatter(&|v: &f64| fmt_value(key, *v))
                .draw()?;
            for (g, sc) in scenarios.iter().enumerate() {
                for (i, srv) in servers.iter().enumerate() {
                    let Some(st) = stat(sc, srv) else { continue };
                    let x0 = g as f64 - 0.4 + i as f64 * bar_w;
                    let color = COLORS[i % COLORS.len()];
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(x0, floor(key)), (x0 + bar_w * 0.9, st.median)],
                        color.filled(),
                    )))?;
                    let cx = x0 + bar_w * 0.45;
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(cx, st.min.max(floor(key))), (cx, st.max)],
                        BLACK,
                    )))?;
                }
            }
            for (i, srv) in servers.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                chart
                    .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
                    .label(srv.as_str())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }};
    }
    let x = -0.5..groups - 0.5;
    if key == "p99_us" {
        let top = 10f64.powf(max.log10().ceil().max(2.0));
        draw!(builder.build_cartesian_2d(x, (floor(key)..top).log_scale())?);
    } else {
        draw!(builder.build_cartesian_2d(x, 0.0..max * 1.05)?);
    }
    Ok(())
}

/// Where bars start: zero on a linear axis, 10 µs on the logarithmic latency axis.
fn floor(key: &str) -> f64 {
    if key == "p99_us" { 10.0 } else { 0.0 }
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
        let svg = svg(&sums, &["get"], &servers, "t").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        // Two panels, each with a bar per server in the server's colour plus its legend swatch.
        assert_eq!(svg.matches(r##"fill="#D9480F""##).count(), 4, "{svg}");
        assert_eq!(svg.matches(r##"fill="#1C7ED6""##).count(), 4, "{svg}");
        let texts: Vec<&str> = svg.lines().map(str::trim).collect();
        assert!(
            texts.contains(&"get"),
            "the scenario labels the x axis: {svg}"
        );
        assert!(
            texts.contains(&"redis"),
            "the legend names each server: {svg}"
        );
    }
}
