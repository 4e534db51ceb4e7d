//! A request to the peer in flight: the non-blocking form of connect,
//! announce and subscribe. The request runs as a task on the runtime (bounded
//! by its timeout, so it always ends); its answer is either taken by a thread
//! that waits or polls ([`Pending::wait`]), or handed to one completion
//! ([`Pending::then`]) that runs on the request's own strand: a callback
//! thread, never a thread that drives QUIC, never inside the caller.
//!
//! Dropping a `Pending` cancels the request: the task is aborted (what it
//! had made is dropped with it), and the completion never runs once the drop
//! returned on a user thread (see [`Strand::close`] for a library thread).

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;

use crate::dispatch::Strand;
use crate::error::{Code, Error, Result};
use crate::runtime::{on_runtime_thread, runtime};

/// What runs with the answer, once.
pub type Completion<T> = Box<dyn FnOnce(Result<T>) + Send>;

/// A request in flight; see the module documentation.
pub struct Pending<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    task: Option<AbortHandle>,
}

struct Shared<T: Send + 'static> {
    state: Mutex<State<T>>,
    answered: Condvar,
    completions: Strand<()>,
}

enum State<T> {
    /// No answer yet; the completion, if one was set.
    Waiting(Option<Completion<T>>),
    Answered(Result<T>),
    /// Taken by `wait`, handed to the completion, or cancelled.
    Taken,
}

impl<T: Send + 'static> Pending<T> {
    /// Starts `request` on the runtime. It must end on its own (bounded by
    /// a timeout: see [`crate::runtime::bounded`]).
    pub fn spawn(request: impl Future<Output = Result<T>> + Send + 'static) -> Self {
        let shared = Shared::new();
        let answer = shared.clone();
        let task = runtime().spawn(async move {
            let result =
                crate::runtime::catch_panic("waiting for the peer's answer", request).await;
            answer.answer(result);
        });
        Self {
            shared,
            task: Some(task.abort_handle()),
        }
    }

    /// A request that ended before it started (bad input, a closed session):
    /// it answers like any other, through `wait` or the completion.
    pub fn answered(result: Result<T>) -> Self {
        let shared = Shared::new();
        shared.answer(result);
        Self { shared, task: None }
    }

    /// Takes the answer (the request's own result), waiting up to `timeout`
    /// for it (`None`: without end; zero: only if it is there). The outer
    /// error is the wait's: `Timeout` when no answer came in time (the
    /// request goes on: wait again, or drop to cancel); `WouldBlock` for a
    /// nonzero wait on a library thread; `InvalidArgument` once the answer
    /// was taken or a completion was set.
    pub fn wait(&self, timeout: Option<Duration>) -> std::result::Result<Result<T>, Error> {
        let polling = timeout == Some(Duration::ZERO);
        if !polling && on_runtime_thread() {
            return Err(Error::new(
                Code::WouldBlock,
                "waiting for a pending request blocks and cannot be done on a moq callback \
                 thread; set a completion with then() instead, or poll with a zero timeout",
            ));
        }
        // None: without end (asked for, or beyond any time the clock can tell).
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut state = self.shared.lock();
        loop {
            match &*state {
                State::Answered(_) => {
                    let State::Answered(result) = std::mem::replace(&mut *state, State::Taken)
                    else {
                        unreachable!("matched above")
                    };
                    return Ok(result);
                }
                State::Waiting(Some(_)) => {
                    return Err(Error::invalid_argument(
                        "this request's answer goes to the completion set with then(); it cannot \
                         also be waited for",
                    ))
                }
                State::Taken => return Err(taken()),
                State::Waiting(None) => {}
            }
            let left = match deadline {
                None => None,
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(Error::new(
                            Code::Timeout,
                            "the request has no answer yet; wait again, or destroy the pending \
                             handle to cancel it",
                        ));
                    }
                    Some(deadline - now)
                }
            };
            state = match left {
                None => self
                    .shared
                    .answered
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(left) => {
                    self.shared
                        .answered
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// Hands the answer to `completion`, on the request's strand: at once
    /// (queued) if it is there, else when it comes. Never runs it on the
    /// calling thread. `InvalidArgument` if a completion was set already or
    /// the answer was taken.
    pub fn then(&self, completion: Completion<T>) -> Result<()> {
        let mut state = self.shared.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Waiting(None) => {
                *state = State::Waiting(Some(completion));
                Ok(())
            }
            State::Answered(result) => {
                drop(state);
                self.shared.completions.post(move |()| completion(result));
                Ok(())
            }
            State::Waiting(Some(first)) => {
                *state = State::Waiting(Some(first));
                Err(Error::invalid_argument(
                    "this request already has a completion; set one only",
                ))
            }
            State::Taken => Err(taken()),
        }
    }

    /// True once the answer came (and was not taken by `wait`).
    pub fn is_answered(&self) -> bool {
        matches!(*self.shared.lock(), State::Answered(_))
    }
}

impl<T: Send + 'static> Drop for Pending<T> {
    fn drop(&mut self) {
        // First take what is ours, so a completion set here is destroyed on
        // this thread and an answer that comes now finds nobody.
        let left = std::mem::replace(&mut *self.shared.lock(), State::Taken);
        if let Some(task) = &self.task {
            task.abort();
        }
        // Waits for a completion running now (from a user thread).
        self.shared.completions.close();
        drop(left);
    }
}

impl<T: Send + 'static> Shared<T> {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::Waiting(None)),
            answered: Condvar::new(),
            completions: Strand::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn answer(&self, result: Result<T>) {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Waiting(None) => {
                *state = State::Answered(result);
                drop(state);
                self.answered.notify_all();
            }
            State::Waiting(Some(completion)) => {
                drop(state);
                self.completions.post(move |()| completion(result));
            }
            // Cancelled: what the request made is dropped here.
            State::Answered(_) | State::Taken => {}
        }
    }
}

fn taken() -> Error {
    Error::invalid_argument("this request's answer was already taken; it is given out once")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn wait_takes_the_answer_once() {
        let pending = Pending::spawn(async { Ok(7) });
        assert_eq!(
            pending.wait(Some(Duration::from_secs(5))).unwrap().unwrap(),
            7
        );
        assert_eq!(
            pending.wait(Some(Duration::ZERO)).unwrap_err().code,
            Code::InvalidArgument
        );
    }

    #[test]
    fn wait_times_out_and_the_request_goes_on() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let pending = Pending::spawn(async move {
            rx.await.ok();
            Ok(1)
        });
        assert_eq!(
            pending
                .wait(Some(Duration::from_millis(20)))
                .unwrap_err()
                .code,
            Code::Timeout
        );
        assert!(!pending.is_answered());
        tx.send(()).unwrap();
        assert_eq!(pending.wait(None).unwrap().unwrap(), 1);
    }

    #[test]
    fn the_completion_gets_the_answer_on_a_callback_thread() {
        let (tx, rx) = mpsc::channel();
        let pending = Pending::spawn(async { Ok::<_, Error>("done") });
        pending
            .then(Box::new(move |result| {
                tx.send((result.unwrap(), crate::dispatch::on_callback_thread()))
                    .unwrap();
            }))
            .unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            ("done", true)
        );
        assert_eq!(
            pending.wait(Some(Duration::ZERO)).unwrap_err().code,
            Code::InvalidArgument
        );
    }

    #[test]
    fn an_answer_before_the_completion_is_handed_over_later() {
        let (tx, rx) = mpsc::channel();
        let pending = Pending::<u32>::answered(Err(Error::closed("gone")));
        pending
            .then(Box::new(move |result| {
                tx.send(result.unwrap_err().code).unwrap()
            }))
            .unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            Code::Closed
        );
        assert!(pending.then(Box::new(|_| {})).is_err());
    }

    #[test]
    fn dropping_cancels_the_request_and_its_completion() {
        struct Flag(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let request_dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let completion_dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let guard = Flag(request_dropped.clone());
        let pending = Pending::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok(0u8)
        });
        let held = Flag(completion_dropped.clone());
        pending
            .then(Box::new(move |_| {
                let _held = &held;
                panic!("a cancelled request's completion must not run");
            }))
            .unwrap();
        drop(pending);
        // The completion is destroyed by the drop itself; the aborted task
        // drops the request on the runtime soon after.
        assert!(completion_dropped.load(std::sync::atomic::Ordering::SeqCst));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !request_dropped.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "the aborted request was never dropped"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
