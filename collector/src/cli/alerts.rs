//! `alerts status` and `alerts test`: what each alert sink has delivered, and a test message
//! through each.

use anyhow::{Result, bail};
use hygie_collector::alerts::{self, SinkStatus};
use hygie_collector::config::CollectorConfig;
use hygie_collector::store::InventoryReader;

use super::open::{DatabaseArg, open_reader};
use super::output::{Format, print, print_json};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum AlertsCommand {
    /// Each sink's cursor, backlog and counters (delivered, suppressed, dropped, refused).
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Send one test message to each sink, now, and say which received it. Cursors are left
    /// as they are.
    Test,
}

pub(crate) fn alerts(command: AlertsCommand, config: &CollectorConfig) -> Result<()> {
    if config.alerts.sinks.is_empty() {
        bail!(
            "no alert sink is configured: add [[alerts.sinks]] to the configuration (see packaging/collector.toml)"
        );
    }
    match command {
        AlertsCommand::Status { format, database } => {
            let head = open_reader(config, &database)?.event_head()?.0;
            let sinks = alerts::status(&config.alerts, head)?;
            match format {
                Format::Table => print(&table(&sinks, head)),
                Format::Json => print_json(&sinks),
            }
        }
        AlertsCommand::Test => {
            let mut dispatcher = alerts::prepare(&config.alerts)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let results = runtime.block_on(dispatcher.test());
            let mut failed = 0;
            let mut text = String::new();
            for (sink, result) in results {
                match result {
                    Ok(()) => text.push_str(&format!("{sink}: sent\n")),
                    Err(error) => {
                        failed += 1;
                        text.push_str(&format!("{sink}: FAILED: {error}\n"));
                    }
                }
            }
            print(&hygie_collector::report::safe_lines(&text))?;
            if failed > 0 {
                bail!("{failed} sink(s) did not take the test message");
            }
            Ok(())
        }
    }
}

fn table(sinks: &[SinkStatus], head: i64) -> String {
    let mut text = format!("event log head: {head}\n");
    for sink in sinks {
        text.push_str(&format!("{}  {}\n", sink.name, sink.target));
        match &sink.state {
            None => text.push_str("  never ran (starts at the head of the log)\n"),
            Some(state) => {
                let progress = state.progress;
                text.push_str(&format!(
                    "  cursor {}  backlog {}  delivered {}  suppressed {}  dropped {}  refused {}\n",
                    progress.cursor,
                    sink.backlog.unwrap_or(0),
                    progress.delivered,
                    progress.suppressed,
                    progress.dropped,
                    progress.refused
                ));
                if let Some(at) = state.last_delivery {
                    text.push_str(&format!("  last delivery {at}\n"));
                }
                if let Some(error) = &state.last_error {
                    text.push_str(&format!("  last error: {error}\n"));
                }
            }
        }
    }
    hygie_collector::report::safe_lines(&text)
}
