//! Ctrl-C during `train`: the first SIGINT asks the run to stop after the step in progress
//! (the run directory keeps its last checkpoint, and the program says how to resume); a
//! second one ends the program at once, as Ctrl-C does by default.

use std::sync::atomic::{AtomicBool, Ordering};

use diversenet_repro::report::document::shell_word;

static REQUESTED: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn on_sigint(_: libc::c_int) {
    REQUESTED.store(true, Ordering::SeqCst);
    // Async-signal-safe: the next Ctrl-C gets the default action.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

/// Installs the SIGINT handler (Unix; elsewhere Ctrl-C keeps its default action).
pub fn install() {
    #[cfg(unix)]
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

/// Whether Ctrl-C was pressed since [`install`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// This invocation as a shell command with `--resume` (in place of `--overwrite`), to
/// continue an interrupted run.
pub fn resume_command() -> String {
    let mut words: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| a != "--overwrite")
        .collect();
    if !words.iter().any(|a| a == "--resume") {
        words.push("--resume".into());
    }
    words
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}
