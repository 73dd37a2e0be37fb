//! Batched log output: formatted lines collect in one shared buffer that a background
//! thread writes out at most every few milliseconds, so a log line costs the SIP task an
//! append under a lock, never a `write(2)` and (but for the first line of a batch) never a
//! thread wake-up. At thousands of calls a second a writer thread woken per line cost the
//! daemon more CPU than formatting the lines.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};
use tracing_subscriber::fmt::MakeWriter;

/// How long the writer lets lines gather after the first one of a batch.
const GATHER: Duration = Duration::from_millis(10);

/// Bytes waiting beyond which new lines are dropped (and counted): the output (a terminal,
/// a pipe to the journal) has stopped taking them, and the daemon must not grow or block.
const PENDING_LIMIT: usize = 8 << 20;

struct Shared {
    pending: Mutex<Vec<u8>>,
    /// Bytes waiting beyond which lines are dropped.
    limit: usize,
    dropped: AtomicU64,
    stop: AtomicBool,
    writer: Thread,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while appending leaves at worst a partial line: keep logging.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Hands the formatter a writer that appends to the shared buffer.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// How long exit waits for the last lines to be written: an output that has stopped
/// taking them (a stuck journal) must not keep the daemon from exiting.
const EXIT_FLUSH: Duration = Duration::from_secs(1);

/// Writes out what is pending and stops the writer thread when dropped (at exit).
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Told when the writer thread has written its last batch.
    done: Receiver<()>,
    exit_flush: Duration,
}

/// Starts the writer thread over `out`.
pub fn batch_writer<W: Write + Send + 'static>(out: W) -> (BatchWriter, FlushGuard) {
    with_limits(out, PENDING_LIMIT, EXIT_FLUSH)
}

fn with_limits<W: Write + Send + 'static>(
    out: W,
    limit: usize,
    exit_flush: Duration,
) -> (BatchWriter, FlushGuard) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done) = std::sync::mpsc::channel();
    let thread = thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || {
            let shared: Arc<Shared> = rx.recv().expect("the log writer gets its buffer");
            write_out(&shared, out);
            let _ = done_tx.send(());
        })
        .expect("a thread for the log writer");
    let shared = Arc::new(Shared {
        pending: Mutex::new(Vec::with_capacity(64 << 10)),
        limit,
        dropped: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        writer: thread.thread().clone(),
    });
    tx.send(shared.clone()).expect("the log writer is waiting");
    (
        BatchWriter {
            shared: shared.clone(),
        },
        FlushGuard {
            shared,
            thread: Some(thread),
            done,
            exit_flush,
        },
    )
}

/// The writer thread: sleeps until a batch starts, lets it gather, writes it in one go.
fn write_out<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::with_capacity(64 << 10);
    loop {
        let stopping = shared.stop.load(Ordering::Acquire);
        if !stopping {
            if shared.lock().is_empty() {
                thread::park();
                continue;
            }
            let until = Instant::now() + GATHER;
            while !shared.stop.load(Ordering::Acquire) {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                thread::park_timeout(left);
            }
        }
        // Lines dropped so far are reported after the lines that filled the buffer.
        let dropped = {
            let mut pending = shared.lock();
            std::mem::swap(&mut *pending, &mut batch);
            shared.dropped.swap(0, Ordering::Relaxed)
        };
        // A failing output (closed terminal) loses these lines but not the daemon.
        let _ = out.write_all(&batch);
        batch.clear();
        if dropped > 0 {
            let _ = writeln!(
                out,
                "centralino: {dropped} log lines dropped: the log output did not keep up"
            );
        }
        let _ = out.flush();
        if stopping {
            return;
        }
    }
}

/// One formatted event's bytes, appended whole.
pub struct Lines<'a>(&'a Shared);

impl Write for Lines<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = self.0.lock();
        if pending.len() + line.len() > self.0.limit {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(line.len());
        }
        let first = pending.is_empty();
        pending.extend_from_slice(line);
        drop(pending);
        if first {
            self.0.writer.unpark();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = Lines<'a>;

    fn make_writer(&'a self) -> Lines<'a> {
        Lines(&self.shared)
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.writer.unpark();
        // Joined only once it has finished: a writer blocked on its output is left behind.
        if self.done.recv_timeout(self.exit_flush).is_ok()
            && let Some(t) = self.thread.take()
        {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read after the writer stops.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_reaches_the_output_in_order_by_exit() {
        let sink = Sink::default();
        let (writer, guard) = batch_writer(sink.clone());
        for i in 0..1000 {
            writer
                .make_writer()
                .write_all(format!("line {i}\n").as_bytes())
                .unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
    }

    /// An output whose first write waits until the test lets it go.
    struct Stalled {
        sink: Sink,
        entered: std::sync::mpsc::Sender<()>,
        go: Option<std::sync::mpsc::Receiver<()>>,
    }

    /// A stalled output, what it lets through, the signal that its first write began,
    /// and the handle that lets that write go on.
    fn stalled() -> (Stalled, Sink, Receiver<()>, std::sync::mpsc::Sender<()>) {
        let sink = Sink::default();
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (go, go_rx) = std::sync::mpsc::channel();
        let out = Stalled {
            sink: sink.clone(),
            entered: entered_tx,
            go: Some(go_rx),
        };
        (out, sink, entered, go)
    }

    impl Write for Stalled {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if let Some(go) = self.go.take() {
                self.entered.send(()).unwrap();
                let _ = go.recv(); // released, or the test is over
            }
            self.sink.write(b)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_output_stuck_for_good_does_not_hold_up_exit() {
        let (out, sink, entered, go) = stalled();
        let (writer, guard) = with_limits(out, PENDING_LIMIT, Duration::from_millis(20));
        writer.make_writer().write_all(b"never written\n").unwrap();
        entered.recv().unwrap(); // the writer is stuck in its output
        drop(guard); // returns after the exit wait instead of waiting for ever
        assert!(sink.0.lock().unwrap().is_empty());
        drop(go);
    }

    #[test]
    fn lines_beyond_the_limit_while_the_output_is_stuck_are_dropped_and_reported() {
        let (out, sink, entered, go) = stalled();
        let (writer, guard) = with_limits(out, 20, EXIT_FLUSH);
        let line = |s: &str| writer.make_writer().write_all(s.as_bytes()).unwrap();
        line("first\n");
        entered.recv().unwrap(); // the writer is stuck writing "first"
        line("second\n"); // 7 bytes waiting
        line("third\n"); // 13
        line("fourth\n"); // 20: just fits
        line("fifth\n"); // 26 > 20: dropped
        line("sixth\n"); // dropped
        go.send(()).unwrap();
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "first\nsecond\nthird\nfourth\n\
             centralino: 2 log lines dropped: the log output did not keep up\n"
        );
    }
}
