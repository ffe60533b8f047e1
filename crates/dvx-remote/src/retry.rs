//! Retries transient failures with exponential backoff.

use std::time::Duration;

use dvx_store::{Backend, BackendError, ObjectInfo};

/// Wraps a backend: transient errors are retried (5 attempts, 0.2 s doubling to 5 s);
/// permanent ones are returned at once.
pub struct Retrying<B> {
    inner: B,
    attempts: u32,
    first_delay: Duration,
}

impl<B: Backend> Retrying<B> {
    /// Default policy.
    pub fn new(inner: B) -> Retrying<B> {
        Retrying {
            inner,
            attempts: 5,
            first_delay: Duration::from_millis(200),
        }
    }

    fn run<T>(&self, mut f: impl FnMut(&B) -> Result<T, BackendError>) -> Result<T, BackendError> {
        let mut delay = self.first_delay;
        let mut attempt = 1;
        loop {
            match f(&self.inner) {
                Err(e) if e.is_transient() && attempt < self.attempts => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                r => return r,
            }
        }
    }
}

impl<B: Backend> Backend for Retrying<B> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, BackendError> {
        self.run(|b| b.list(prefix))
    }
    fn get(&self, key: &str, max_len: u64) -> Result<Vec<u8>, BackendError> {
        self.run(|b| b.get(key, max_len))
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, BackendError> {
        self.run(|b| b.get_range(key, offset, len))
    }
    fn put(&self, key: &str, data: bytes::Bytes) -> Result<(), BackendError> {
        self.run(|b| b.put(key, data.clone()))
    }
    fn head(&self, key: &str) -> Result<Option<u64>, BackendError> {
        self.run(|b| b.head(key))
    }
    fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.run(|b| b.delete(key))
    }
    fn check_reachable(&self) -> Result<(), BackendError> {
        self.run(|b| b.check_reachable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Flaky {
        fails: AtomicU32,
    }

    impl Backend for Flaky {
        fn describe(&self) -> String {
            "flaky".into()
        }
        fn list(&self, _: &str) -> Result<Vec<ObjectInfo>, BackendError> {
            Ok(vec![])
        }
        fn get(&self, key: &str, _: u64) -> Result<Vec<u8>, BackendError> {
            if self.fails.fetch_sub(1, Ordering::SeqCst) > 0 {
                Err(BackendError::Transient {
                    key: key.into(),
                    message: "503".into(),
                })
            } else {
                Ok(b"ok".to_vec())
            }
        }
        fn get_range(&self, _: &str, _: u64, _: u64) -> Result<Vec<u8>, BackendError> {
            Ok(vec![])
        }
        fn put(&self, key: &str, _: bytes::Bytes) -> Result<(), BackendError> {
            Err(BackendError::Permanent {
                key: key.into(),
                message: "denied".into(),
            })
        }
        fn head(&self, _: &str) -> Result<Option<u64>, BackendError> {
            Ok(None)
        }
        fn delete(&self, _: &str) -> Result<(), BackendError> {
            Ok(())
        }
    }

    #[test]
    fn retries_transient_not_permanent() {
        let mut r = Retrying::new(Flaky {
            fails: AtomicU32::new(2),
        });
        r.first_delay = Duration::from_millis(1);
        assert_eq!(r.get("k", 10).expect("third try works"), b"ok");
        assert!(r.put("k", bytes::Bytes::new()).is_err());
        r.inner.fails.store(100, Ordering::SeqCst);
        assert!(r.get("k", 10).is_err(), "gives up after 5 attempts");
    }
}
