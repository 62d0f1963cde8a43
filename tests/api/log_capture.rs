//! The WARN and ERROR lines the system logs during one test, captured on the test's thread.
//! A `#[tokio::test]` (and a `current_thread` runtime) polls the api, the worker and the
//! stand-in it spawned on its own thread, so a subscriber set as this thread's default sees
//! every line they log, and none of the tests running beside it.

use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;
use tracing_subscriber::fmt::MakeWriter;

/// The lines logged at WARN or above since the last [`LogCapture::take`].
pub struct LogCapture {
    lines: Arc<Mutex<Vec<u8>>>,
    _guard: DefaultGuard,
}

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = Sink;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl LogCapture {
    /// Captures this thread's WARN and ERROR lines until dropped.
    pub fn start() -> LogCapture {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(Sink(lines.clone()))
            .finish();
        LogCapture {
            lines,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// The lines captured so far, emptied.
    pub fn take(&self) -> Vec<String> {
        let bytes = std::mem::take(&mut *self.lines.lock().unwrap());
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}
