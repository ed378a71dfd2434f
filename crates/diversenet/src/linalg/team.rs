//! A fixed team of threads for work that comes as many short jobs in quick succession, each
//! split into one part per member: the training step, whose two parallel phases last a few
//! hundred microseconds each.
//!
//! rayon's idle workers go to sleep within microseconds, and waking one costs tens of
//! microseconds (more in a virtual machine): at width 100 a sizeable part of a step
//! (`diversenet bench train --widths 100` times the step; bench/HISTORY.md, before and
//! after the team). A
//! team's helpers instead spin for [`SPIN`] after each job before they sleep, so the next
//! job, started a few microseconds later, finds them awake. Idle for longer, they sleep on a
//! condition variable and use no CPU.
//!
//! A team never runs anything but its own jobs, so it cannot deadlock the way a blocking
//! wait inside a rayon task can; a training run inside a rayon worker (the reproduction's
//! parallel runs) uses rayon instead, so that the two never compete for cores.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a helper spins for the next job before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

type Task = dyn Fn(usize) + Sync;

/// The current job's closure. Only [`Team::run`] creates one, and it keeps the closure
/// alive until every helper has finished with it.
#[derive(Clone, Copy)]
struct TaskPtr(*const Task);

// SAFETY: the pointee is `Sync`, so calling it from several threads at once is sound; its
// lifetime is guaranteed by `Team::run`, which returns only after every helper is done.
unsafe impl Send for TaskPtr {}

struct Shared {
    /// The number of jobs started; a change tells the helpers to run the current one.
    started: AtomicUsize,
    /// Helpers finished with the current job.
    finished: AtomicUsize,
    task: Mutex<Option<TaskPtr>>,
    /// The first panic of a helper in the current job.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    shutdown: AtomicBool,
    /// Helpers asleep (or about to be) on `wake`.
    sleepers: AtomicUsize,
    sleep_lock: Mutex<()>,
    wake: Condvar,
}

/// Locks `m`, ignoring poisoning: the data guarded here stays valid when a holder panics.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `size` members: the calling thread (member 0) and `size - 1` helper threads.
pub(crate) struct Team {
    size: usize,
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
}

impl Team {
    /// A team of `size` members (at least one), spawning `size - 1` helper threads; the
    /// error of the first spawn that fails (the helpers already started are stopped).
    pub(crate) fn new(size: usize) -> std::io::Result<Self> {
        let size = size.max(1);
        let shared = Arc::new(Shared {
            started: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            task: Mutex::new(None),
            panic: Mutex::new(None),
            shutdown: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            sleep_lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let mut team = Self {
            size,
            shared,
            helpers: Vec::with_capacity(size - 1),
        };
        for member in 1..size {
            let shared = Arc::clone(&team.shared);
            let handle = std::thread::Builder::new()
                .name(format!("diversenet-team-{member}"))
                .spawn(move || helper(&shared, member))?;
            team.helpers.push(handle);
        }
        Ok(team)
    }

    /// Runs `task(member)` once for every member, at the same time, and returns when all
    /// are done. A panic in any member is raised again here, after all have finished.
    pub(crate) fn run(&mut self, task: &(dyn Fn(usize) + Sync)) {
        let shared = &*self.shared;
        // SAFETY: only the lifetime is erased. The helpers use the pointer between the
        // increment of `started` below and their increment of `finished`, and this function
        // waits for every helper's increment before it returns, on every path (the caller's
        // own part runs under `catch_unwind`).
        let ptr = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync + '_), *const Task>(task) };
        *lock(&shared.task) = Some(TaskPtr(ptr));
        shared.finished.store(0, Ordering::SeqCst);
        shared.started.fetch_add(1, Ordering::SeqCst);
        if shared.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&shared.sleep_lock);
            shared.wake.notify_all();
        }
        let own = catch_unwind(AssertUnwindSafe(|| task(0)));
        let helpers = self.size - 1;
        let mut spins = 0u32;
        while shared.finished.load(Ordering::Acquire) < helpers {
            spins = spins.saturating_add(1);
            if spins < 1 << 16 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        *lock(&shared.task) = None;
        if let Err(p) = own {
            resume_unwind(p);
        }
        if let Some(p) = lock(&shared.panic).take() {
            resume_unwind(p);
        }
    }

    /// Runs `f` on every item, item `i` on member `i` (at most as many items as members).
    pub(crate) fn for_each_mut<W: Send>(&mut self, items: &mut [W], f: impl Fn(&mut W) + Sync) {
        assert!(items.len() <= self.size, "more items than team members");
        let len = items.len();
        let base = ItemsPtr(items.as_mut_ptr());
        self.run(&|member| {
            if member < len {
                let base = &base;
                // SAFETY: `member` is in bounds and different for every concurrent call, so
                // each item is borrowed mutably by exactly one member while `items` is
                // borrowed by this function.
                f(unsafe { &mut *base.0.add(member) });
            }
        });
    }
}

/// The items of [`Team::for_each_mut`], shared with the members.
struct ItemsPtr<W>(*mut W);
// SAFETY: every member dereferences a different item (see `for_each_mut`), and `W: Send`.
unsafe impl<W: Send> Sync for ItemsPtr<W> {}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.started.fetch_add(1, Ordering::SeqCst);
        {
            let _guard = lock(&self.shared.sleep_lock);
            self.shared.wake.notify_all();
        }
        for h in self.helpers.drain(..) {
            let _ = h.join();
        }
    }
}

/// A helper's life: wait for a job, run its part, report, until the team is dropped.
fn helper(shared: &Shared, member: usize) {
    let mut seen = 0;
    loop {
        seen = wait_for_job(shared, seen);
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let task = lock(&shared.task).expect("a started job has a task");
        // SAFETY: see `TaskPtr` and `Team::run`.
        let result = catch_unwind(AssertUnwindSafe(|| unsafe { (*task.0)(member) }));
        if let Err(p) = result {
            lock(&shared.panic).get_or_insert(p);
        }
        shared.finished.fetch_add(1, Ordering::Release);
    }
}

/// Spins for up to [`SPIN`], then sleeps, until a job after number `seen` starts; its number.
fn wait_for_job(shared: &Shared, seen: usize) -> usize {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        let now = shared.started.load(Ordering::Acquire);
        if now != seen {
            return now;
        }
        spins = spins.wrapping_add(1);
        if spins % 256 == 0 && start.elapsed() > SPIN {
            break;
        }
        std::hint::spin_loop();
    }
    let mut guard = lock(&shared.sleep_lock);
    shared.sleepers.fetch_add(1, Ordering::SeqCst);
    let mut now = shared.started.load(Ordering::SeqCst);
    while now == seen {
        guard = shared.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
        now = shared.started.load(Ordering::SeqCst);
    }
    shared.sleepers.fetch_sub(1, Ordering::SeqCst);
    now
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_member_runs_each_job_once_and_concurrently() {
        for size in [1, 2, 3] {
            let mut team = Team::new(size).unwrap();
            let counts: Vec<AtomicU64> = (0..size).map(|_| AtomicU64::new(0)).collect();
            for job in 0..300u64 {
                // Every member must arrive before any leaves: a job whose parts ran one after
                // another would never get past this rendezvous.
                let arrived = AtomicUsize::new(0);
                team.run(&|m| {
                    counts[m].fetch_add(job + 1, Ordering::Relaxed);
                    arrived.fetch_add(1, Ordering::SeqCst);
                    while arrived.load(Ordering::SeqCst) < size {
                        std::hint::spin_loop();
                    }
                });
                if job == 150 {
                    // Long enough for the helpers to fall asleep.
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            for c in &counts {
                assert_eq!(c.load(Ordering::Relaxed), 300 * 301 / 2);
            }
        }
    }

    #[test]
    fn items_go_one_to_each_member() {
        let mut team = Team::new(4).unwrap();
        let mut items = vec![0usize; 3];
        for _ in 0..10 {
            team.for_each_mut(&mut items, |x| *x += 1);
        }
        assert_eq!(items, vec![10; 3]);
    }

    #[test]
    fn a_panic_in_a_helper_reaches_the_caller_and_the_team_survives() {
        let mut team = Team::new(3).unwrap();
        let hit = catch_unwind(AssertUnwindSafe(|| {
            team.run(&|m| {
                if m == 2 {
                    panic!("member two failed");
                }
            })
        }));
        let message = hit.expect_err("the panic propagates");
        assert_eq!(message.downcast_ref::<&str>(), Some(&"member two failed"));
        let total = AtomicUsize::new(0);
        team.run(&|m| {
            total.fetch_add(m, Ordering::SeqCst);
        });
        assert_eq!(total.load(Ordering::SeqCst), 3);
    }
}
