//! Shared output helpers: tables, times, and the live progress display.

use std::io::IsTerminal;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dagctl::engine::{Event, TaskState};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::broadcast;

/// Prints rows as aligned columns under a header.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    // Columns are padded to their widest cell up to a bound: a huge cell (an error of 100 kB)
    // is printed whole without padding every other row to its width.
    const MAX_WIDTH: usize = 120;
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count()).min(MAX_WIDTH);
        }
    }
    let header = header.map(String::from);
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (k, (cell, w)) in row.iter().zip(widths).enumerate() {
            if k > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let pad = w.saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        println!("{}", line.trim_end());
    }
}

/// `2026-01-31 06:30:00`, or `-`.
pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// `0.42s`, `1m03s`, or `-`.
pub fn secs(d: Option<Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) if d.as_secs() >= 60 => format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60),
        Some(d) => format!("{:.2}s", d.as_secs_f64()),
    }
}

/// A progress bar of finished tasks on a terminal (stderr); nothing when piped.
pub struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts following `events`: the bar's length grows by the number of tasks of each run
    /// that appears (`tasks_of` its DAG), so a run that triggers others never overshoots.
    pub fn start(
        mut events: broadcast::Receiver<Event>,
        tasks_of: impl Fn(&str) -> usize + Send + 'static,
        json: bool,
    ) -> Progress {
        if json || !std::io::stderr().is_terminal() {
            return Progress { task: None };
        }
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} tasks {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        let task = tokio::spawn(async move {
            let mut running: Vec<String> = Vec::new();
            let mut runs: std::collections::HashSet<(String, String)> = Default::default();
            loop {
                let (dag_id, run_id) = match events.recv().await {
                    Ok(Event::Task {
                        dag_id,
                        run_id,
                        task_id,
                        state,
                        ..
                    }) => {
                        running.retain(|t| *t != task_id);
                        match state {
                            TaskState::Running => running.push(task_id),
                            s if s.is_finished() => bar.inc(1),
                            _ => {}
                        }
                        bar.set_message(running.join(", "));
                        (dag_id, run_id)
                    }
                    Ok(Event::Run { dag_id, run_id, .. }) => (dag_id, run_id),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                };
                if runs.insert((dag_id.clone(), run_id)) {
                    bar.inc_length(tasks_of(&dag_id) as u64);
                }
            }
            bar.finish_and_clear();
        });
        Progress { task: Some(task) }
    }

    /// Removes the bar.
    pub fn finish(self) {
        if let Some(t) = self.task {
            t.abort();
            // Clear whatever line the bar left.
            eprint!("\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn cells_past_any_format_width_print_whole() {
        // A width past 65,535 used to panic in `format!("{cell:w$}")`.
        table(
            ["task", "error"],
            &[
                ["a".into(), "x".repeat(70_000)],
                ["b".repeat(100_000), "short".into()],
            ],
        );
    }
}
