//! indicatif progress bars on stderr, behind dvx-core's Progress trait.

use std::sync::Mutex;

use dvx_core::{Progress, Unit};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws one bar per phase, or nothing when disabled.
pub struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    /// Bars shown only when `enabled`.
    pub fn new(enabled: bool) -> Bars {
        Bars {
            enabled,
            bar: Mutex::new(None),
        }
    }
}

impl Progress for Bars {
    fn begin(&self, phase: &str, total: Option<u64>, unit: Unit) {
        if !self.enabled {
            return;
        }
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let template = match unit {
            Unit::Bytes => "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            Unit::Items => "{msg:>10} [{bar:30}] {pos}/{len} eta {eta}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(phase.to_string());
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(b) = self.bar.lock() {
            if let Some(bar) = b.as_ref() {
                bar.inc(n);
            }
        }
    }

    fn end(&self) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(bar) = b.take() {
                bar.finish_and_clear();
            }
        }
    }

    /// Warnings are shown even when bars are not (`-q` hides progress, not problems).
    fn warn(&self, message: &str) {
        let line = format!("warning: {message}");
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}
