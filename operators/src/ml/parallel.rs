//! Runs independent CPU-bound jobs on a fixed number of threads (smartcore is single-threaded;
//! candidates, folds and forest parts are independent). Results come back in job order; a job
//! that panics (a library bug on odd data) becomes an error instead of taking the task down.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A unit of work.
pub type Job<'a, T> = Box<dyn FnOnce() -> T + Send + 'a>;

/// Runs `jobs` on up to `threads` threads, taking them in order (put the longest first).
pub fn run_all<'a, T: Send>(jobs: Vec<Job<'a, T>>, threads: usize) -> Vec<Result<T, String>> {
    let n = jobs.len();
    let slots: Vec<Mutex<Option<Job<'a, T>>>> =
        jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let results: Vec<Mutex<Option<Result<T, String>>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let worker = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            // Each slot is taken exactly once; the locks are never held across a job.
            let job = slots[i].lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(job) = job {
                let out =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).map_err(|p| {
                        p.downcast_ref::<&str>()
                            .map(|s| (*s).to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "a training job panicked".into())
                    });
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(out);
            }
        }
    };
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        worker();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(worker);
            }
        });
    }
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| unreachable!("every job ran"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_job_order_on_any_thread_count() {
        for threads in [1, 2, 5] {
            let jobs: Vec<Job<usize>> = (0..20usize)
                .map(|i| Box::new(move || i * i) as Job<usize>)
                .collect();
            let out: Vec<usize> = run_all(jobs, threads)
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(out, (0..20).map(|i| i * i).collect::<Vec<_>>());
            let failing: Vec<Job<usize>> = vec![Box::new(|| 1), Box::new(|| panic!("odd data"))];
            let out = run_all(failing, threads);
            assert_eq!(out[0], Ok(1));
            assert_eq!(out[1], Err("odd data".to_string()));
        }
    }
}
