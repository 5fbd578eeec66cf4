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
    task: Option<(
        tokio::task::JoinHandle<()>,
        tokio_util::sync::CancellationToken,
    )>,
}

/// What the bar shows: the tasks running now, and the runs counted in its length.
struct BarState<F> {
    bar: ProgressBar,
    running: Vec<String>,
    runs: std::collections::HashSet<(String, String)>,
    tasks_of: F,
}

impl<F: Fn(&str) -> usize> BarState<F> {
    fn apply(&mut self, event: Event) {
        let (dag_id, run_id) = match event {
            Event::Task {
                dag_id,
                run_id,
                task_id,
                state,
                ..
            } => {
                self.running.retain(|t| *t != task_id);
                match state {
                    TaskState::Running => self.running.push(task_id),
                    s if s.is_finished() => self.bar.inc(1),
                    _ => {}
                }
                self.bar.set_message(self.running.join(", "));
                (dag_id, run_id)
            }
            Event::Run { dag_id, run_id, .. } => (dag_id, run_id),
            _ => return,
        };
        if self.runs.insert((dag_id.clone(), run_id)) {
            self.bar.inc_length((self.tasks_of)(&dag_id) as u64);
        }
    }
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
        let stop = tokio_util::sync::CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut state = BarState {
                bar,
                running: Vec::new(),
                runs: Default::default(),
                tasks_of,
            };
            loop {
                let event = tokio::select! {
                    event = events.recv() => event,
                    _ = stopped.cancelled() => break,
                };
                match event {
                    Ok(e) => state.apply(e),
                    Err(broadcast::error::RecvError::Closed) => break,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                }
            }
            // What was sent before the stop still counts: the bar ends where the runs did.
            loop {
                match events.try_recv() {
                    Ok(e) => state.apply(e),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
            state.bar.finish();
        });
        Progress {
            task: Some((task, stop)),
        }
    }

    /// Draws the bar's last state (every event sent so far counted), then removes it.
    pub async fn finish(self) {
        if let Some((task, stop)) = self.task {
            stop.cancel();
            let _ = task.await;
            // Clear the line the bar left.
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
