//! Single-flight: callers that ask for the same key at the same time share
//! one run of the work. berth uses it so that two pulls needing the same
//! layer download it once: the first caller downloads and commits it to the
//! content store, the others wait and get the first one's result.
//!
//! It is not a cache: once the run finished and its callers have their
//! answer, the key is forgotten and the next call runs the work again. If
//! the leading run fails (or is cancelled), a waiting caller runs its own
//! work instead, so one failure is not handed to everybody.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// Shares concurrent runs of the same work, by key.
pub(crate) struct SingleFlight<K, V> {
    calls: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K, V> std::fmt::Debug for SingleFlight<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleFlight").finish_non_exhaustive()
    }
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            calls: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> SingleFlight<K, V> {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Runs `work` for `key`, unless a run for `key` is already under way:
    /// then waits for it and returns its value.
    pub(crate) async fn run<F, Fut, E>(&self, key: K, work: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = {
            let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            calls.entry(key.clone()).or_default().clone()
        };
        let result = cell.get_or_try_init(work).await.cloned();
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(current) = calls.get(&key) {
            // Forget a finished run; forget a failed one once nobody else waits on it.
            if Arc::ptr_eq(current, &cell) && (cell.initialized() || Arc::strong_count(&cell) <= 2)
            {
                calls.remove(&key);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_run() {
        let flight = Arc::new(SingleFlight::<String, u32>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let flight = flight.clone();
            let runs = runs.clone();
            tasks.push(tokio::spawn(async move {
                flight
                    .run("k".to_owned(), || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok::<_, String>(7)
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(7));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Finished runs are forgotten: the next call runs again.
        let again = flight
            .run("k".to_owned(), || async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(8)
            })
            .await;
        assert_eq!(again, Ok(8));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_run_lets_the_next_caller_try() {
        let flight = SingleFlight::<u8, u8>::new();
        let first = flight.run(1, || async { Err::<u8, _>("boom") }).await;
        assert_eq!(first, Err("boom"));
        let second = flight.run(1, || async { Ok::<_, &str>(2) }).await;
        assert_eq!(second, Ok(2));
    }
}
