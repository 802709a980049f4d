//! One SVG per scenario: load, latency and breaker state over time, one
//! line per pipeline (plotters' SVG backend; text is written as SVG text,
//! no font files are read).

use plotters::prelude::*;

use crate::run::RunReport;

const COLOURS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

fn state_level(name: &str) -> f64 {
    match name {
        "open" | "forced-open" => 2.0,
        "half-open" => 1.0,
        _ => 0.0,
    }
}

/// The scenario's plot as an SVG document: three panels sharing the time
/// axis (seconds).
///
/// # Errors
///
/// plotters' drawing error, as text.
pub fn svg(title: &str, runs: &[&RunReport]) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (960, 900)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root
            .titled(title, ("sans-serif", 22))
            .map_err(|e| e.to_string())?;
        let panels = root.split_evenly((3, 1));
        let end = runs
            .iter()
            .map(|r| r.series.len() as f64 * r.bucket.as_secs_f64())
            .fold(1e-3, f64::max);
        // Load: attempts reaching the dependency per second.
        let per_sec = |r: &RunReport, v: u64| v as f64 / r.bucket.as_secs_f64();
        let load: Vec<Vec<(f64, f64)>> = runs
            .iter()
            .map(|r| {
                r.series
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (i as f64 * r.bucket.as_secs_f64(), per_sec(r, b.reached)))
                    .collect()
            })
            .collect();
        let offered: Vec<(f64, f64)> = runs.first().map_or(Vec::new(), |r| {
            r.series
                .iter()
                .enumerate()
                .map(|(i, b)| (i as f64 * r.bucket.as_secs_f64(), per_sec(r, b.offered)))
                .collect()
        });
        panel(
            &panels[0],
            "calls reaching the dependency per second (grey: offered)",
            end,
            &load,
            Some(&offered),
            runs,
        )?;
        // Latency: mean of the calls ending in each bucket, ms.
        let latency: Vec<Vec<(f64, f64)>> = runs
            .iter()
            .map(|r| {
                r.series
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.succeeded + b.unsucceeded > 0)
                    .map(|(i, b)| {
                        let n = (b.succeeded + b.unsucceeded) as f64;
                        (
                            i as f64 * r.bucket.as_secs_f64(),
                            b.latency_sum_us as f64 / n / 1e3,
                        )
                    })
                    .collect()
            })
            .collect();
        panel(
            &panels[1],
            "mean latency of calls ending (ms)",
            end,
            &latency,
            None,
            runs,
        )?;
        // State: 0 closed, 1 half-open, 2 open, as steps.
        let states: Vec<Vec<(f64, f64)>> = runs
            .iter()
            .map(|r| {
                let mut points = vec![(0.0, 0.0)];
                let mut level = 0.0;
                for t in r.transitions.iter().filter(|t| t.machine == "breaker") {
                    let x = t.at.as_nanos() as f64 / 1e9;
                    points.push((x, level));
                    level = state_level(t.to);
                    points.push((x, level));
                }
                points.push((end, level));
                points
            })
            .collect();
        let quiet = runs.iter().all(|r| r.transitions.is_empty());
        panel(
            &panels[2],
            if quiet {
                "breaker state (0 closed, 1 half-open, 2 open): no state changes"
            } else {
                "breaker state (0 closed, 1 half-open, 2 open)"
            },
            end,
            &states,
            None,
            runs,
        )?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    end: f64,
    lines: &[Vec<(f64, f64)>],
    reference: Option<&Vec<(f64, f64)>>,
    runs: &[&RunReport],
) -> Result<(), String> {
    let top = lines
        .iter()
        .flatten()
        .chain(reference.into_iter().flatten())
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;
    if let Some(reference) = reference {
        chart
            .draw_series(LineSeries::new(
                reference.iter().copied(),
                &RGBColor(160, 160, 160),
            ))
            .map_err(|e| e.to_string())?;
    }
    for (i, (points, run)) in lines.iter().zip(runs).enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(run.pipeline.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}
