//! The servers' stop signal (gradlab-web, gradlab-serve).

/// The stop signals, Ctrl-C (SIGINT) and SIGTERM, listened for from the moment this is made:
/// one that arrives while nobody waits in [`Signals::recv`] is kept for the next call. (A
/// listener made anew for each wait missed a second signal sent right after the first was
/// handled: gradlab-web's "second signal stops at once" then waited out its whole grace.)
/// Make it inside a tokio runtime.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Start listening (a signal kind that cannot be listened for is never received).
    pub fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Completes on the next Ctrl-C or SIGTERM (or one that came since the last call).
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            let Signals { interrupt, terminate } = self;
            tokio::select! {
                _ = next(interrupt) => {},
                _ = next(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.ok();
        }
    }
}

impl Default for Signals {
    fn default() -> Self {
        Signals::new()
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown() {
    Signals::new().recv().await;
}
