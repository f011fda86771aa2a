//! Logging: text or JSON lines on standard error, the level from `RUST_LOG`, and one known
//! noisy warning of rustls dropped.

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

/// Installs the global subscriber: `RUST_LOG` when set, else `default_level`.
pub(crate) fn init(format: LogFormat, default_level: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| default_level.to_owned());
    let registry = tracing_subscriber::registry()
        .with(EnvFilter::new(filter))
        .with(QuietIpSni);
    let layer = fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => registry.with(layer).init(),
        LogFormat::Json => registry.with(layer.json()).init(),
    }
}

/// The message rustls logs (as a warning) for every client that sends an IP address as its TLS
/// server name, which osslsigncode, Java and others do when given `https://127.0.0.1/…`: the
/// name is ignored as RFC 6066 says, nothing is wrong, and one line per connection would bury
/// real warnings.
const IP_SNI: &str = "Illegal SNI extension: ignoring IP address";

/// Drops exactly that message; every other event passes.
struct QuietIpSni;

impl<S: Subscriber> Layer<S> for QuietIpSni {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        if *event.metadata().level() != Level::WARN {
            return true;
        }
        let mut message = Message(false);
        event.record(&mut message);
        !message.0
    }
}

/// Whether the event's message is [`IP_SNI`].
struct Message(bool);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" && value.starts_with(IP_SNI) {
            self.0 = true;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && format!("{value:?}").starts_with(IP_SNI) {
            self.0 = true;
        }
    }
}
