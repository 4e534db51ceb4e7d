//! Where user code runs. The tokio runtime only does I/O; every callback a
//! handle makes runs on one of the library's callback threads, inside that
//! handle's [`Strand`]: its callbacks never overlap and keep their order, while
//! different handles run in parallel. A slow callback delays only its own
//! handle, never QUIC (keep-alives included) nor another handle.
//!
//! A strand owns its handle's *sink*: whatever holds the user's callbacks.
//! Jobs get `&mut` access to it one at a time, and the strand drops it exactly
//! once, after the last job, on a defined thread:
//!
//! - [`Strand::close`] from a thread of the user's: refuses further jobs,
//!   discards the queued ones, waits for a running one to return, then drops
//!   the sink *on the calling thread*. When it returns, no job runs or will.
//! - [`Strand::close`] from a library thread (inside any callback, or on the
//!   runtime): never waits, since another strand may be waiting for this one
//!   (two handles destroyed from each other's callbacks). No further job
//!   starts; if a job is running, its worker drops the sink when it returns,
//!   else it is dropped here.
//! - [`Strand::post_final`] (the terminal event): runs after every job posted
//!   before it, then the strand closes and drops the sink.

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::ThreadId;

use crate::{lock, log, tsan};

/// Jobs one strand runs before it lets the others on its thread have a turn.
const JOBS_PER_TURN: usize = 32;

thread_local! {
    static ON_CALLBACK_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True on the library's callback threads, where user callbacks run.
pub fn on_callback_thread() -> bool {
    ON_CALLBACK_THREAD.with(Cell::get)
}

/// Something a callback thread can run for a while.
trait Turn: Send + Sync {
    fn run_turn(self: Arc<Self>);
}

/// The callback threads and the strands waiting for one. It keeps
/// `callback_threads` threads, and starts more (up to
/// `max_callback_threads`) while every thread is busy and work waits: then
/// callbacks that block (a slow decoder, a sleep) hold up only their own
/// handles. Threads beyond the minimum end after a while without work.
struct Pool {
    state: Mutex<PoolState>,
    wakeup: Condvar,
    min_threads: usize,
    max_threads: usize,
}

struct PoolState {
    ready: VecDeque<Arc<dyn Turn>>,
    threads: usize,
    idle: usize,
}

/// How long a thread beyond the minimum waits for work before it ends.
const SPARE_THREAD_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

static POOL: OnceLock<Pool> = OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let config = crate::runtime::config();
        Pool {
            state: Mutex::new(PoolState {
                ready: VecDeque::new(),
                threads: 0,
                idle: 0,
            }),
            wakeup: Condvar::new(),
            min_threads: config.callback_threads,
            max_threads: config.max_callback_threads.max(config.callback_threads),
        }
    })
}

fn spawn_worker(index: usize) {
    let spawned = std::thread::Builder::new()
        .name(format!("moq-callback-{index}"))
        .spawn(worker);
    if spawned.is_err() {
        // No thread to be had: the work waits for a busy one instead.
        lock(&pool().state).threads -= 1;
        log::log(log::Level::Error, "moq: cannot start a callback thread");
    }
}

fn worker() {
    ON_CALLBACK_THREAD.with(|on| on.set(true));
    let pool = pool();
    loop {
        let turn = {
            let mut state = lock(&pool.state);
            loop {
                if let Some(turn) = state.ready.pop_front() {
                    break turn;
                }
                state.idle += 1;
                let (next, waited) = pool
                    .wakeup
                    .wait_timeout(state, SPARE_THREAD_IDLE)
                    .unwrap_or_else(|e| e.into_inner());
                state = next;
                state.idle -= 1;
                if waited.timed_out() && state.ready.is_empty() && state.threads > pool.min_threads
                {
                    state.threads -= 1;
                    return;
                }
            }
        };
        turn.run_turn();
    }
}

fn schedule(turn: Arc<dyn Turn>) {
    let pool = pool();
    let mut state = lock(&pool.state);
    state.ready.push_back(turn);
    // Keep the minimum running; beyond it, a new thread only when every
    // thread is busy (blocked in a callback, most likely).
    let start = (state.threads < pool.min_threads
        || (state.idle < state.ready.len() && state.threads < pool.max_threads))
        .then(|| {
            state.threads += 1;
            state.threads - 1
        });
    // A condvar notify is a system call even when nobody waits: only when a
    // thread is parked (it counted itself idle under this lock).
    let wake = state.idle > 0;
    drop(state);
    if wake {
        pool.wakeup.notify_one();
    }
    if let Some(index) = start {
        spawn_worker(index);
    }
}

type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

/// One handle's serial queue of callbacks, owning the handle's sink `S`.
pub struct Strand<S: Send + 'static> {
    core: Arc<StrandCore<S>>,
}

impl<S: Send + 'static> Clone for Strand<S> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
        }
    }
}

struct StrandCore<S> {
    state: Mutex<StrandState<S>>,
    /// Signalled when a running job returns, for a closing thread that waits.
    idle: Condvar,
}

struct StrandState<S> {
    /// None while a job runs (its worker holds it) or once released.
    sink: Option<S>,
    jobs: VecDeque<(Job<S>, bool)>,
    /// On the pool's ready queue, or running.
    scheduled: bool,
    /// The thread running a job now.
    running: Option<ThreadId>,
    /// No job is accepted any more.
    closed: bool,
    /// A final job was posted: nothing is accepted after it.
    final_posted: bool,
    /// Threads in `close` waiting for the running job: the sink goes back to
    /// them rather than being dropped on the worker.
    waiting: usize,
}

impl<S: Send + 'static> Strand<S> {
    pub fn new(sink: S) -> Self {
        let strand = Self {
            core: Arc::new(StrandCore {
                state: Mutex::new(StrandState {
                    sink: Some(sink),
                    jobs: VecDeque::new(),
                    scheduled: false,
                    running: None,
                    closed: false,
                    final_posted: false,
                    waiting: 0,
                }),
                idle: Condvar::new(),
            }),
        };
        // The sink was made on this thread; its jobs run on others.
        tsan::release(&*strand.core);
        strand
    }

    /// Queues `job`; false (and the job is dropped) once the strand is
    /// closed or its final job was posted.
    pub fn post(&self, job: impl FnOnce(&mut S) + Send + 'static) -> bool {
        self.push(Box::new(job), false)
    }

    /// Queues the terminal event: it runs after every job posted before it;
    /// then the strand closes and drops the sink. False if the strand was
    /// already closed (the handle's owner destroyed it: no terminal event).
    pub fn post_final(&self, job: impl FnOnce(&mut S) + Send + 'static) -> bool {
        self.push(Box::new(job), true)
    }

    fn push(&self, job: Job<S>, last: bool) -> bool {
        tsan::release(&*self.core);
        let mut state = lock(&self.core.state);
        if state.closed || state.final_posted {
            drop(state);
            drop(job);
            return false;
        }
        state.final_posted = last;
        state.jobs.push_back((job, last));
        if !state.scheduled {
            state.scheduled = true;
            drop(state);
            schedule(self.core.clone());
        }
        true
    }

    /// Stops the strand: see the module documentation for what is waited for
    /// and where the sink is dropped. On any library thread (a callback
    /// thread, or the runtime's) it never waits. Idempotent.
    pub fn close(&self) {
        let library_thread = crate::runtime::on_runtime_thread();
        let mut state = lock(&self.core.state);
        state.closed = true;
        let discarded = std::mem::take(&mut state.jobs);
        if !library_thread {
            state.waiting += 1;
            while state.running.is_some() {
                state = self
                    .core
                    .idle
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner());
            }
            state.waiting -= 1;
        }
        // After the last job: the sink may be dropped here.
        tsan::acquire(&*self.core);
        // Not running now: the sink is ours to drop (None if a worker, or an
        // earlier close, already did). If a job is still running (we are on a
        // callback thread), its worker drops the sink when it returns.
        let sink = state.sink.take();
        drop(state);
        drop(discarded);
        drop(sink);
    }

    /// Jobs queued and not started yet.
    pub fn pending(&self) -> usize {
        lock(&self.core.state).jobs.len()
    }

    /// True once [`Strand::close`] was called: a job that makes several
    /// calls checks it between them, since its owner may have closed the
    /// strand from inside one (a handle destroyed in its own callback).
    pub fn is_stopped(&self) -> bool {
        lock(&self.core.state).closed
    }

    /// True once the strand accepts no more jobs.
    pub fn is_closed(&self) -> bool {
        let state = lock(&self.core.state);
        state.closed || state.final_posted
    }
}

impl<S: Send + 'static> Turn for StrandCore<S> {
    fn run_turn(self: Arc<Self>) {
        for _ in 0..JOBS_PER_TURN {
            let mut state = lock(&self.state);
            let (job, last) = match state.jobs.pop_front() {
                Some(next) if !state.closed => next,
                _ => {
                    state.scheduled = false;
                    return;
                }
            };
            let Some(mut sink) = state.sink.take() else {
                state.scheduled = false;
                return;
            };
            state.running = Some(std::thread::current().id());
            drop(state);
            tsan::acquire(&*self);

            if catch_unwind(AssertUnwindSafe(|| job(&mut sink))).is_err() {
                log::log(
                    log::Level::Error,
                    "internal error in a callback job (a panic); please report this bug",
                );
            }

            tsan::release(&*self);
            let mut state = lock(&self.state);
            state.running = None;
            if last {
                state.closed = true;
            }
            let release = if state.closed && state.waiting == 0 {
                Some(sink)
            } else {
                state.sink = Some(sink);
                None
            };
            // Only a closing thread waits on `idle` (it counted itself in
            // `waiting` under this lock); a notify is a system call, so not
            // one per job.
            let wake_closers = state.waiting > 0;
            if state.closed {
                state.scheduled = false;
                let discarded = std::mem::take(&mut state.jobs);
                drop(state);
                if wake_closers {
                    self.idle.notify_all();
                }
                drop(discarded);
                drop(release);
                return;
            }
            drop(state);
            if wake_closers {
                self.idle.notify_all();
            }
        }
        // A long queue: let the other strands on this thread have a turn.
        schedule(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    /// Counts its drops, and the thread it was dropped on.
    struct Sink {
        calls: Vec<u32>,
        dropped: mpsc::Sender<ThreadId>,
    }

    impl Drop for Sink {
        fn drop(&mut self) {
            let _ = self.dropped.send(std::thread::current().id());
        }
    }

    fn sink() -> (Sink, mpsc::Receiver<ThreadId>) {
        let (tx, rx) = mpsc::channel();
        (
            Sink {
                calls: Vec::new(),
                dropped: tx,
            },
            rx,
        )
    }

    #[test]
    fn jobs_run_in_order_on_callback_threads_then_the_final_one_releases_the_sink() {
        let (sink, dropped) = sink();
        let strand = Strand::new(sink);
        let (tx, rx) = mpsc::channel();
        for i in 0..100u32 {
            let tx = tx.clone();
            assert!(strand.post(move |s: &mut Sink| {
                s.calls.push(i);
                let _ = tx.send((i, on_callback_thread()));
            }));
        }
        let (done, finished) = mpsc::channel();
        assert!(strand.post_final(move |s: &mut Sink| {
            let _ = done.send(s.calls.clone());
        }));
        assert!(
            !strand.post(|_| {}),
            "nothing is accepted after the final job"
        );
        let calls = finished.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(calls, (0..100).collect::<Vec<_>>());
        for i in 0..100 {
            assert_eq!(rx.recv().unwrap(), (i, true));
        }
        let on = dropped.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_ne!(on, std::thread::current().id(), "released on the worker");
        strand.close(); // idempotent after the end
    }

    #[test]
    fn close_from_a_user_thread_waits_for_the_running_job_and_drops_the_sink_here() {
        let (sink, dropped) = sink();
        let strand = Strand::new(sink);
        let (entered_tx, entered) = mpsc::channel();
        let finished = Arc::new(AtomicUsize::new(0));
        let f = finished.clone();
        strand.post(move |_| {
            let _ = entered_tx.send(());
            std::thread::sleep(Duration::from_millis(200));
            f.store(1, Ordering::SeqCst);
        });
        let never = Arc::new(AtomicUsize::new(0));
        let n = never.clone();
        strand.post(move |_| {
            n.store(1, Ordering::SeqCst);
        });
        entered.recv_timeout(Duration::from_secs(5)).unwrap();
        strand.close();
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "close returned during a job"
        );
        assert_eq!(
            dropped.try_recv().unwrap(),
            std::thread::current().id(),
            "the sink is dropped on the closing thread"
        );
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            never.load(Ordering::SeqCst),
            0,
            "a queued job ran after close"
        );
        assert!(!strand.post(|_| {}));
    }

    #[test]
    fn two_strands_closing_each_other_from_their_jobs_do_not_deadlock() {
        // Both jobs run at once (one on each callback thread); each locks one
        // shared mutex in turn and closes the other strand. A close that
        // waited for the other strand's running job would hang both.
        for _ in 0..50 {
            let (a_sink, a_dropped) = sink();
            let (b_sink, b_dropped) = sink();
            let a = Strand::new(a_sink);
            let b = Strand::new(b_sink);
            let app = Arc::new(Mutex::new(()));
            let started = Arc::new(AtomicUsize::new(0));
            let (done, finished) = mpsc::channel();
            for (me, other) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
                let app = app.clone();
                let started = started.clone();
                let done = done.clone();
                me.post(move |_| {
                    started.fetch_add(1, Ordering::SeqCst);
                    let deadline = std::time::Instant::now() + Duration::from_secs(2);
                    while started.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline
                    {
                        std::thread::yield_now();
                    }
                    let _guard = app.lock().unwrap();
                    other.close();
                    let _ = done.send(());
                });
            }
            for _ in 0..2 {
                finished
                    .recv_timeout(Duration::from_secs(5))
                    .expect("the sibling close deadlocked");
            }
            // Each sink is dropped by its worker once its job returned.
            a_dropped.recv_timeout(Duration::from_secs(5)).unwrap();
            b_dropped.recv_timeout(Duration::from_secs(5)).unwrap();
        }
    }

    #[test]
    fn a_job_may_close_its_own_strand() {
        let (sink, dropped) = sink();
        let strand = Strand::new(sink);
        let me = strand.clone();
        let (tx, rx) = mpsc::channel();
        strand.post(move |_| {
            me.close();
            let _ = tx.send(());
        });
        strand.post(|_| panic!("must not run after the close"));
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let on = dropped.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_ne!(on, std::thread::current().id());
    }

    #[test]
    fn a_slow_strand_does_not_hold_up_another() {
        let (slow_sink, _a) = sink();
        let (fast_sink, _b) = sink();
        let slow = Strand::new(slow_sink);
        let fast = Strand::new(fast_sink);
        slow.post(|_| std::thread::sleep(Duration::from_millis(500)));
        let (tx, rx) = mpsc::channel();
        let start = std::time::Instant::now();
        fast.post(move |_| {
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(start.elapsed() < Duration::from_millis(400));
        slow.close();
        fast.close();
    }

    #[test]
    fn a_panicking_job_is_contained() {
        let (sink, _dropped) = sink();
        let strand = Strand::new(sink);
        strand.post(|_| panic!("a panic on purpose"));
        let (tx, rx) = mpsc::channel();
        strand.post(move |_| {
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        strand.close();
    }
}
