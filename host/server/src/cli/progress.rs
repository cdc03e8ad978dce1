//! One line on stderr, redrawn in place while a long command works
//! (backup, restore, import, export).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// The line; drawn only when stderr is a terminal (in a script or a log it
/// would be noise).
pub struct ProgressLine {
    on: bool,
    drawn: bool,
    last: Option<Instant>,
}

/// Redraws at most this often, so a fast phase does not flood the terminal.
const REDRAW: Duration = Duration::from_millis(100);

impl Default for ProgressLine {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressLine {
    /// A line on this process's stderr.
    pub fn new() -> Self {
        Self {
            on: std::io::stderr().is_terminal(),
            drawn: false,
            last: None,
        }
    }

    /// Replace the line with `text()`, unless it was drawn a moment ago and
    /// this is not a step that must be seen (`always`).
    pub fn draw(&mut self, always: bool, text: impl FnOnce() -> String) {
        if !self.on {
            return;
        }
        if !always && self.last.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        self.last = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{}", text());
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erase the line, before the summary is printed.
    pub fn clear(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.drawn = false;
        }
    }
}
