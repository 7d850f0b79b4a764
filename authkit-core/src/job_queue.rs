//! [`JobQueue`]: a bounded queue in front of one background task that starts on the first job.
//!
//! Core's audit writer and the SQLite store's writer both use it: each funnels many callers'
//! writes into one task that writes what queued up together (a group commit).

use std::fmt;
use std::sync::{Mutex, PoisonError};

use tokio::sync::mpsc;

/// A bounded queue of jobs for one background task. The task is started by the first
/// [`JobQueue::send`], in that caller's tokio runtime, and started again when that runtime has
/// ended since (a kit or store outliving a test's runtime). It ends when the queue is dropped.
pub struct JobQueue<J> {
    capacity: usize,
    sender: Mutex<Option<mpsc::Sender<J>>>,
}

impl<J: Send + 'static> JobQueue<J> {
    /// A queue holding up to `capacity` jobs before senders wait.
    pub const fn new(capacity: usize) -> Self {
        Self {
            capacity,
            sender: Mutex::new(None),
        }
    }

    /// Queues `job`, first starting the task with `start(receiver)` when none is running; waits
    /// while the queue is full. Gives the job back when a task stopped before taking it twice
    /// in a row (its runtime ended while this call waited).
    pub async fn send<F>(&self, job: J, start: impl Fn(mpsc::Receiver<J>) -> F) -> Result<(), J>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut job = job;
        for _ in 0..2 {
            let sender = {
                let mut sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
                match &*sender {
                    Some(tx) if !tx.is_closed() => tx.clone(),
                    _ => {
                        let (tx, rx) = mpsc::channel(self.capacity);
                        tokio::spawn(start(rx));
                        *sender = Some(tx.clone());
                        tx
                    }
                }
            };
            match sender.send(job).await {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(back)) => job = back,
            }
        }
        Err(job)
    }
}

impl<J> fmt::Debug for JobQueue<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobQueue")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    /// A task whose runtime ended is replaced by the next send, in the sender's runtime.
    #[test]
    fn a_task_whose_runtime_ended_is_started_again() {
        let queue = JobQueue::<tokio::sync::oneshot::Sender<()>>::new(4);
        let start = |mut rx: mpsc::Receiver<tokio::sync::oneshot::Sender<()>>| async move {
            while let Some(done) = rx.recv().await {
                let _ = done.send(());
            }
        };
        for _ in 0..2 {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let (done, answered) = tokio::sync::oneshot::channel();
                queue.send(done, start).await.unwrap();
                answered.await.unwrap();
            });
        }
    }
}
