//! indicatif progress bars on stderr, behind dvx-core's Progress trait.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use dvx_core::{Progress, Unit};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws one bar per phase, or nothing when disabled. A phase counted in bytes that also
/// declares its files shows `done/total files` beside the bytes.
pub struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
    files_total: AtomicU64,
    files_done: AtomicU64,
}

impl Bars {
    /// Bars shown only when `enabled`.
    pub fn new(enabled: bool) -> Bars {
        Bars {
            enabled,
            bar: Mutex::new(None),
            files_total: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
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
            Unit::Bytes => {
                "{msg:>10} [{bar:30}] {bytes}/{total_bytes}{prefix} {bytes_per_sec} eta {eta}"
            }
            Unit::Items => "{msg:>10} [{bar:30}] {pos}/{len} eta {eta}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(phase.to_string());
        self.files_total.store(0, Ordering::Relaxed);
        self.files_done.store(0, Ordering::Relaxed);
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

    fn files(&self, total: u64) {
        self.files_total.store(total, Ordering::Relaxed);
        self.files_done.store(0, Ordering::Relaxed);
        self.show_files(0);
    }

    fn file_done(&self) {
        let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
        self.show_files(done);
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

impl Bars {
    /// Puts `, <done>/<total> files` after the bytes of the current bar.
    fn show_files(&self, done: u64) {
        let total = self.files_total.load(Ordering::Relaxed);
        if let Ok(b) = self.bar.lock() {
            if let Some(bar) = b.as_ref() {
                let noun = if total == 1 { "file" } else { "files" };
                bar.set_prefix(format!(", {}/{total} {noun}", done.min(total)));
            }
        }
    }
}
