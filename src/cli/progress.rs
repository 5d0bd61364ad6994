//! A progress line on stderr for work that takes more than a second: count,
//! rate and time left. Quiet for quick jobs so scripted use stays clean; on a
//! terminal the line redraws in place, in a log it is a new line now and then.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Work shorter than this prints nothing.
const QUIET_FOR: Duration = Duration::from_secs(1);
/// Minimum time between redraws on a terminal.
const REDRAW_EVERY: Duration = Duration::from_millis(200);
/// Minimum time between lines when stderr is a file or pipe.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// A counter drawn on stderr.
pub struct Progress {
    label: String,
    unit: &'static str,
    total: usize,
    done: usize,
    started: Instant,
    last_draw: Option<Instant>,
    terminal: bool,
    note: String,
}

impl Progress {
    /// Starts counting `total` items of `unit` (e.g. "images").
    pub fn new(label: impl Into<String>, total: usize, unit: &'static str) -> Self {
        Self {
            label: label.into(),
            unit,
            total,
            done: 0,
            started: Instant::now(),
            last_draw: None,
            terminal: std::io::stderr().is_terminal(),
            note: String::new(),
        }
    }

    /// Shows `note` (e.g. the current loss) after the counts from the next redraw on.
    pub fn set_note(&mut self, note: String) {
        self.note = note;
    }

    /// Records `n` more finished items.
    pub fn advance(&mut self, n: usize) {
        self.set(self.done + n);
    }

    /// Records that `done` items are finished.
    pub fn set(&mut self, done: usize) {
        self.done = done.min(self.total);
        let now = Instant::now();
        let every = if self.terminal {
            REDRAW_EVERY
        } else {
            LOG_EVERY
        };
        let due = self.last_draw.is_none_or(|t| now - t >= every);
        if now - self.started >= QUIET_FOR && due {
            self.draw(now);
            self.last_draw = Some(now);
        }
    }

    /// Ends the line if anything was drawn.
    pub fn finish(self) {
        if self.last_draw.is_some() {
            let elapsed = self.started.elapsed().as_secs_f64();
            let start = if self.terminal { "\r" } else { "" };
            eprintln!(
                "{start}{}: {}/{} {} in {elapsed:.1} s{:20}",
                self.label, self.done, self.total, self.unit, ""
            );
        }
    }

    fn draw(&self, now: Instant) {
        let elapsed = (now - self.started).as_secs_f64();
        let rate = self.done as f64 / elapsed.max(1e-9);
        let eta = if self.done > 0 {
            format!("{:.0} s left", (self.total - self.done) as f64 / rate)
        } else {
            "estimating".into()
        };
        let (start, end) = if self.terminal {
            ("\r", "   ")
        } else {
            ("", "\n")
        };
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "{start}{}: {}/{} {} ({rate:.2} {}/s, {eta}){}{end}",
            self.label, self.done, self.total, self.unit, self.unit, self.note
        );
        let _ = stderr.flush();
    }
}
