//! The one work queue of dvx-core: a fixed number of threads, each taking the next item of a
//! list in order. Used where rayon's work splitting does not fit: requests that wait on the
//! network (more threads than cores), and files restored largest first, side by side.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Runs `f(index, item)` over `items` on up to `threads` threads (at least one), each taking
/// the next item in order, until the items run out or `f` returns false.
fn run<T: Sync>(items: &[T], threads: usize, name: &str, f: impl Fn(usize, &T) -> bool + Sync) {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..threads.min(items.len()).max(1) {
            let worker = || loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { return };
                if !f(i, item) {
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
            };
            std::thread::Builder::new()
                .name(format!("dvx-{name}-{t}"))
                .spawn_scoped(s, worker)
                .expect("a worker thread starts");
        }
    });
}

/// Runs `f` over `items` with up to `threads` threads; stops taking items at the first
/// error, and returns it once the items already taken are done.
pub(crate) fn try_each<T: Sync>(
    items: &[T],
    threads: usize,
    name: &str,
    f: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    let first_err: Mutex<Option<Error>> = Mutex::new(None);
    run(items, threads, name, |_, item| match f(item) {
        Ok(()) => true,
        Err(e) => {
            let mut slot = first_err.lock().expect("error slot poisoned");
            if slot.is_none() {
                *slot = Some(e);
            }
            false
        }
    });
    match first_err.into_inner().expect("error slot poisoned") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Runs `f` over every item with up to `threads` threads and returns the results in the
/// items' order.
pub(crate) fn map_in_order<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    name: &str,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    run(items, threads, name, |i, item| {
        *slots[i].lock().expect("result slot poisoned") = Some(f(item));
        true
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .expect("result slot poisoned")
                .expect("every item was run")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(
            map_in_order(&items, 7, "test", |i| i * 2),
            (0..100).map(|i| i * 2).collect::<Vec<_>>()
        );
        assert!(map_in_order(&[] as &[u32], 4, "test", |i| *i).is_empty());
    }

    #[test]
    fn the_first_error_stops_the_queue() {
        let items: Vec<u32> = (0..10_000).collect();
        let done = AtomicUsize::new(0);
        let r = try_each(&items, 4, "test", |i| {
            done.fetch_add(1, Ordering::Relaxed);
            // Items after the failing one take time, so the queue cannot drain while the
            // failing thread waits for a core (2 cores, a loaded CI machine): it would have to
            // wait seconds rather than microseconds.
            if *i > 10 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if *i == 10 {
                Err(Error::Store(dvx_store::Error::CorruptTree {
                    id: dvx_store::TreeId([0; 32]),
                    detail: format!("item {i}"),
                }))
            } else {
                Ok(())
            }
        });
        let err = r.expect_err("item 10 fails").to_string();
        assert!(err.contains("item 10"), "{err}");
        assert!(done.load(Ordering::Relaxed) < items.len());
        assert!(try_each(&items, 3, "test", |_| Ok(())).is_ok());
    }
}
