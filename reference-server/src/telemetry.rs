//! Logging: `tracing` events to standard error, filtered by `RUST_LOG` (default `info`),
//! human-readable or JSON ([`LogFormat`]; JSON by default when standard error is not a
//! terminal).
//!
//! Every line logged while a request is handled carries its request id
//! ([`crate::request_id`]): the fields of the spans an event happens in are part of the line. In
//! JSON they are flattened into the line's object next to the event's own fields, one object
//! per line:
//!
//! ```json
//! {"event":"login_failed","ip":"127.0.0.1","level":"INFO","request_id":"test-123","target":"authkit::audit","timestamp":"2026-01-01T12:00:00.000000Z",...}
//! {"level":"INFO","message":"request","method":"POST","path":"/api/v1/login","request_id":"test-123","status":401,...}
//! ```
//!
//! Each object holds `timestamp`, `level`, `target`, the fields of the spans (outer spans first,
//! so an inner span's field wins) and the event's fields (`message` included; they win over
//! span fields of the same name), with keys in alphabetical order. The human-readable format
//! shows the spans as `request{request_id=test-123}:` before the target.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// Installs the global subscriber. `None` picks [`LogFormat::detect`]. Returns `false` when a
/// subscriber was already installed (tests install their own), which is not an error.
pub fn init(format: Option<LogFormat>) -> bool {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.unwrap_or_else(LogFormat::detect) {
        LogFormat::Pretty => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
            .is_ok(),
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .try_init()
            .is_ok(),
    }
}

/// One JSON object per event, with the fields of the spans it happened in flattened into it
/// (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut line = Map::new();
        let mut timestamp = String::new();
        if SystemTime
            .format_time(&mut Writer::new(&mut timestamp))
            .is_ok()
        {
            line.insert("timestamp".into(), Value::String(timestamp));
        }
        line.insert("level".into(), Value::from(meta.level().as_str()));
        line.insert("target".into(), Value::from(meta.target()));
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                // The span's fields, formatted once by `JsonFields` when it was created.
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut Fields(&mut line));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects an event's fields into a JSON object (`log.*` fields of events bridged from the
/// `log` crate are left out: their content is the line's target and level).
struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        if !field.name().starts_with("log.") {
            self.0.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    /// Captures what the subscriber writes.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Self;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn json_lines_flatten_span_fields_into_each_event() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "abc-123");
            let _entered = span.enter();
            tracing::info!(target: "authkit::audit", event = "login_failed", n = 3, "audit");
            let inner = tracing::info_span!("inner", step = 2);
            inner.in_scope(|| tracing::warn!(ok = true, "inside"));
            drop(_entered);
            tracing::info!("outside");
        });
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["request_id"], "abc-123");
        assert_eq!(lines[0]["target"], "authkit::audit");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["event"], "login_failed");
        assert_eq!(lines[0]["n"], 3);
        assert_eq!(lines[0]["message"], "audit");
        assert!(lines[0]["timestamp"].is_string());
        assert_eq!(lines[1]["request_id"], "abc-123");
        assert_eq!(lines[1]["step"], 2);
        assert_eq!(lines[1]["ok"], true);
        assert!(lines[2].get("request_id").is_none(), "{}", lines[2]);
    }
}
