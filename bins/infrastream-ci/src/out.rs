//! Standard output for commands whose output is piped: a reader that closes the pipe early
//! (`| head`) ends the command quietly, as it ends `cat` or `git log`, instead of the panic
//! std's `println!` raises. Both binaries route `print!`/`println!` and `eprint!`/`eprintln!`
//! here (see their roots) and run their command through [`run`].
//!
//! The command is unwound, not exited: whatever it holds is dropped on the way out (the demo
//! stops the service and the engine it started).

use std::fmt;
use std::io::{self, Write as _};
use std::process::ExitCode;

/// The exit status of a process a closed pipe stopped (128 + SIGPIPE), as a shell reports it.
const CLOSED_PIPE: u8 = 141;

/// What unwinds a command whose output pipe closed.
struct ClosedPipe;

/// Runs a command; a closed standard output ends it with 141, after its destructors ran.
pub fn run(command: impl FnOnce() -> ExitCode) -> ExitCode {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(command)) {
        Ok(code) => code,
        Err(payload) if payload.is::<ClosedPipe>() => ExitCode::from(CLOSED_PIPE),
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Writes `args` to standard output.
pub fn write(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        failed(&e);
    }
}

/// Writes `args` and a newline to standard output.
pub fn write_line(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        failed(&e);
    }
}

/// Writes `bytes` to standard output as they are.
pub fn write_bytes(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        failed(&e);
    }
}

/// Writes `args` to standard error, followed by a newline when `line`; or nothing, when it
/// cannot: a closed standard error has nobody left to tell, and the exit status still says how
/// the command ended (std's `eprintln!` panics there, and the process exits 101).
pub fn write_err(args: fmt::Arguments<'_>, line: bool) {
    let mut err = io::stderr().lock();
    let _ = err
        .write_fmt(args)
        .and_then(|()| if line { err.write_all(b"\n") } else { Ok(()) });
}

fn failed(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        // Unwinds without the panic hook's message; `run` turns it into the exit status.
        std::panic::resume_unwind(Box::new(ClosedPipe));
    }
    // Another failure (a full disk behind a redirection): say so, and fail.
    let _ = writeln!(io::stderr(), "error: cannot write the output: {e}");
    std::process::exit(1);
}
