//! The `dvx` command line: clap arguments, resolved [`settings::Settings`], one module per
//! subcommand in [`commands`], indicatif progress bars, output and exit codes.
//!
//! Every command writes to an `impl Write` and returns an exit status, so it can be tested
//! without a terminal. Exit codes: 0 ok, 1 operation or data failure, 2 usage error.

// The front end: printing (errors, prompts, progress) is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod commands;
mod output;
mod progress;
mod settings;

use std::io::Write;

use clap::Parser;

pub use args::Cli;

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: the operation failed (data, I/O, unsaved changes...).
pub const EXIT_FAILURE: i32 = 1;
/// Exit status: the command line was wrong.
pub const EXIT_USAGE: i32 = 2;

/// Runs the binary: parses argv, runs the command, prints errors, returns the exit code.
pub fn main() -> i32 {
    dvx_core::tune_allocator();
    dvx_core::raise_open_file_limit();
    main_from(std::env::args_os())
}

/// [`main`] over the given arguments (the first is the program name): the `dvx` command of
/// the Python wheel runs this inside the interpreter.
pub fn main_from<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    let stdout = std::io::stdout();
    let mut out = PipeAware(stdout.lock());
    let code = run(cli, &mut out);
    match out.flush() {
        Ok(()) => code,
        Err(_) if stdout_closed() => code,
        Err(e) => report_error(&anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// Set when standard output's reader went away (`dvx ls | head`).
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Standard output that notes a closed pipe: a reader that stops reading (`head`) ends the
/// command normally, as it does for git, instead of making it fail.
struct PipeAware<W: Write>(W);

impl<W: Write> PipeAware<W> {
    fn note<T>(r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        r
    }
}

impl<W: Write> Write for PipeAware<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Self::note(self.0.write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Self::note(self.0.flush())
    }
}

/// Runs a parsed command line, writing results to `out` and errors to stderr.
pub fn run(cli: Cli, out: &mut dyn Write) -> i32 {
    let settings = match settings::Settings::resolve(&cli) {
        Ok(s) => s,
        Err(e) => return report_error(&e),
    };
    match commands::dispatch(&settings, cli.command, out) {
        Ok(code) => code,
        Err(e) => report_error(&e),
    }
}

/// Prints an error chain once and maps it to an exit code. An error caused by standard
/// output being closed is a normal end: nothing is printed, exit 0.
fn report_error(err: &anyhow::Error) -> i32 {
    if stdout_closed() && is_broken_pipe(err) {
        return EXIT_OK;
    }
    let mut msg = format!("error: {err}");
    let mut seen = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !seen.contains(&c) {
            msg.push_str(&format!("\n  caused by: {c}"));
            seen.push_str(&c);
        }
    }
    // Whatever layer forgot to, no URL password and no control character (a name from a
    // commit could carry terminal escapes) reaches the terminal.
    eprintln!("{}", escape_controls(&dvx_core::redact_userinfo(&msg)));
    exit_code(err)
}

/// Control characters other than newline and tab, written as octal escapes (`\033`), as
/// `names::quote` writes them in names.
fn escape_controls(msg: &str) -> std::borrow::Cow<'_, str> {
    let keep = |c: char| !c.is_control() || c == '\n' || c == '\t';
    if msg.chars().all(keep) {
        return std::borrow::Cow::Borrowed(msg);
    }
    let mut out = String::with_capacity(msg.len() + 8);
    for c in msg.chars() {
        if keep(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\{b:03o}"));
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<dvx_core::Error>() {
            return e.kind().exit_code();
        }
        if cause.downcast_ref::<settings::UsageError>().is_some() {
            return EXIT_USAGE;
        }
    }
    EXIT_FAILURE
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_messages_reach_the_terminal_without_control_characters() {
        let msg = "error: bad file e\x1b[1mv.dvx\n  caused by: x\ty\u{9b}z";
        assert_eq!(
            super::escape_controls(msg),
            "error: bad file e\\033[1mv.dvx\n  caused by: x\ty\\302\\233z"
        );
        assert!(matches!(
            super::escape_controls("plain\n"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
