//! The pseudo-terminals of the running instances, by instance index: where
//! `drover send` and `drover attach` write input, what a window resize
//! changes, and which client is attached to each.
//!
//! Shared by the launcher (which puts in each start's master and takes it
//! out once the group is gone) and the control server. Holds no lock across
//! an await; decides nothing about processes.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::types::Pid;

/// How long input may wait for a process that reads none before it is
/// given up.
const INPUT_WAIT: Duration = Duration::from_secs(5);

/// Why input or an attach was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TerminalError {
    /// The process runs on pipes.
    #[error("{0} has no terminal: set `tty = true` in its drover.toml table (or start drover with --tty)")]
    NoTty(String),
    /// It has a terminal, but is not running now.
    #[error("{0} is not running")]
    NotRunning(String),
    /// Another client is attached.
    #[error("{0} already has a client attached; detach it first, or attach with --steal")]
    Busy(String),
    /// Writing failed.
    #[error("writing to the terminal of {name}: {message}")]
    Write {
        /// The instance.
        name: String,
        /// What went wrong.
        message: String,
    },
}

#[derive(Debug, Default)]
struct Slot {
    /// The instance runs on a pty.
    tty: bool,
    /// The current start's master, by its pgid.
    master: Option<(Pid, Arc<OwnedFd>)>,
    /// The attached client's session number, and what tells it to go.
    attached: Option<(u64, watch::Sender<bool>)>,
    /// The attached client's window size, which wins over drover's.
    size: Option<(u16, u16)>,
}

/// Every instance's terminal.
#[derive(Debug)]
pub struct Terminals {
    names: Vec<String>,
    slots: Mutex<Vec<Slot>>,
    next_session: std::sync::atomic::AtomicU64,
}

/// An attached client's claim on a terminal; released when dropped.
#[derive(Debug)]
pub struct Attached {
    terminals: Arc<Terminals>,
    index: usize,
    session: u64,
    /// Set when another client steals the terminal.
    pub kicked: watch::Receiver<bool>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        let mut slots = self.terminals.lock();
        let slot = &mut slots[self.index];
        if slot
            .attached
            .as_ref()
            .is_some_and(|(s, _)| *s == self.session)
        {
            slot.attached = None;
            slot.size = None;
            // Back to drover's size, for the lines of the main stream.
            if let Some((_, fd)) = &slot.master {
                let _ = crate::process::pty::set_size(&**fd, crate::process::pty::drover_size());
            }
        }
    }
}

impl Terminals {
    /// The table for instances `names`; `tty[i]` says whether instance `i`
    /// runs on a pty.
    pub fn new(names: Vec<String>, tty: &[bool]) -> Arc<Self> {
        let slots = tty
            .iter()
            .map(|t| Slot {
                tty: *t,
                ..Slot::default()
            })
            .collect();
        Arc::new(Self {
            names,
            slots: Mutex::new(slots),
            next_session: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// Adds a slot for an instance added at run time (`drover scale`), at
    /// the next index; its name is the hub's.
    pub fn add(&self, tty: bool) {
        self.lock().push(Slot {
            tty,
            ..Slot::default()
        });
    }

    /// The name of instance `index` (one added at run time has none here).
    fn name(&self, index: usize) -> String {
        self.names.get(index).cloned().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start `pgid` of instance `index` runs on `master`.
    pub fn started(&self, index: usize, pgid: Pid, master: Arc<OwnedFd>) {
        let mut slots = self.lock();
        let slot = &mut slots[index];
        if let Some(size) = slot.size {
            let _ = crate::process::pty::set_size(&*master, size);
        }
        slot.master = Some((pgid, master));
    }

    /// Group `pgid` is gone: its terminal is no longer written to.
    pub fn gone(&self, pgid: Pid) {
        for slot in self.lock().iter_mut() {
            if slot.master.as_ref().is_some_and(|(p, _)| *p == pgid) {
                slot.master = None;
            }
        }
    }

    fn master(&self, index: usize) -> Result<Arc<OwnedFd>, TerminalError> {
        let slots = self.lock();
        let slot = &slots[index];
        let name = || self.name(index);
        if !slot.tty {
            return Err(TerminalError::NoTty(name()));
        }
        match &slot.master {
            Some((_, fd)) => Ok(Arc::clone(fd)),
            None => Err(TerminalError::NotRunning(name())),
        }
    }

    /// Writes `bytes` to instance `index`'s terminal, as if typed.
    pub async fn write(&self, index: usize, mut bytes: &[u8]) -> Result<(), TerminalError> {
        let fd = self.master(index)?;
        let error = |message: String| TerminalError::Write {
            name: self.name(index),
            message,
        };
        let give_up = tokio::time::Instant::now() + INPUT_WAIT;
        while !bytes.is_empty() {
            match rustix::io::write(&*fd, bytes) {
                Ok(n) => bytes = &bytes[n..],
                // The master is non-blocking (the reader shares it): the
                // terminal's input queue is full while the process reads
                // none. Wait a little for it.
                Err(rustix::io::Errno::AGAIN) if tokio::time::Instant::now() < give_up => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(rustix::io::Errno::AGAIN) => {
                    return Err(error("it has read no input for 5s".into()))
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(error(e.to_string())),
            }
        }
        Ok(())
    }

    /// Claims instance `index`'s terminal for an attached client; with
    /// `steal`, the client attached before is told to go.
    pub fn attach(
        self: &Arc<Self>,
        index: usize,
        steal: bool,
        size: Option<(u16, u16)>,
    ) -> Result<Attached, TerminalError> {
        let fd = self.master(index)?;
        let mut slots = self.lock();
        let slot = &mut slots[index];
        if let Some((_, kick)) = &slot.attached {
            if !steal {
                return Err(TerminalError::Busy(self.name(index)));
            }
            kick.send_replace(true);
        }
        let session = self
            .next_session
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (kick, kicked) = watch::channel(false);
        slot.attached = Some((session, kick));
        slot.size = size;
        if let Some(size) = size {
            let _ = crate::process::pty::set_size(&*fd, size);
        }
        Ok(Attached {
            terminals: Arc::clone(self),
            index,
            session,
            kicked,
        })
    }

    /// The attached client's window changed.
    pub fn resize(&self, attached: &Attached, size: (u16, u16)) {
        let mut slots = self.lock();
        let slot = &mut slots[attached.index];
        if slot
            .attached
            .as_ref()
            .is_some_and(|(s, _)| *s == attached.session)
        {
            slot.size = Some(size);
            if let Some((_, fd)) = &slot.master {
                let _ = crate::process::pty::set_size(&**fd, size);
            }
        }
    }

    /// drover's own window changed: every terminal without an attached
    /// client follows it.
    pub fn resize_all(&self, size: (u16, u16)) {
        for slot in self.lock().iter() {
            if let (Some((_, fd)), None) = (&slot.master, &slot.attached) {
                let _ = crate::process::pty::set_size(&**fd, size);
            }
        }
    }
}
