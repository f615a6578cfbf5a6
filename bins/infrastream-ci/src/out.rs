//! Standard output for commands whose output is piped: a reader that closes the pipe early
//! (`| head`) ends the process quietly, as it ends `cat` or `git log`, instead of the panic
//! std's `println!` raises. Both binaries route `print!`/`println!` here (see their roots).

use std::fmt;
use std::io::{self, Write as _};

/// The exit status of a process a closed pipe stopped (128 + SIGPIPE), as a shell reports it.
const CLOSED_PIPE: i32 = 141;

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

fn failed(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(CLOSED_PIPE);
    }
    // Another failure (a full disk behind a redirection): say so, and fail.
    let _ = writeln!(io::stderr(), "error: cannot write the output: {e}");
    std::process::exit(1);
}
