//! The gateway's Prometheus metrics (`--metrics ADDR`), in the OpenMetrics
//! text format of the `prometheus-client` crate, served over plain HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A label with one value: a protocol, a failure reason, a direction.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    /// Why a connection failed.
    pub reason: String,
}

/// Which protocol a client spoke.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Protocol {
    /// `convert` or `socks5`.
    pub protocol: String,
}

/// Bytes relayed, by direction.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Direction {
    /// `upstream` (client to server) or `downstream`.
    pub direction: String,
}

/// Data-level bytes by subflow (Braid stack): the subflow's place in its
/// connection (0 is the initial subflow, 1 the first join, ...; 7 and
/// later share "7") and the direction.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Subflow {
    /// The subflow's index in its connection.
    pub subflow: String,
    /// `tx` (sent by the gateway) or `rx`.
    pub direction: String,
}

/// Every metric of a gateway.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Connections being served now.
    pub active: Gauge,
    /// Connections accepted, by protocol (counted once it is known).
    pub total: Family<Protocol, Counter>,
    /// Connections that failed, by reason.
    pub failed: Family<Reason, Counter>,
    /// Relayed bytes, by direction.
    pub bytes: Family<Direction, Counter>,
    /// Data-level bytes per subflow (Braid stack).
    pub subflow_bytes: Family<Subflow, Counter>,
    /// Subflows opened (Braid stack).
    pub subflows: Counter,
    /// Bytes reinjected on another subflow (Braid stack).
    pub reinjected_bytes: Counter,
    /// Opportunistic reinjections (Braid stack).
    pub reinjections: Counter,
    /// Slow subflows penalised for stalling the data level (Braid stack).
    pub stalls: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, registered.
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("braid_gateway");
        let active = Gauge::default();
        let total = Family::<Protocol, Counter>::default();
        let failed = Family::<Reason, Counter>::default();
        let bytes = Family::<Direction, Counter>::default();
        let subflow_bytes = Family::<Subflow, Counter>::default();
        let (subflows, reinjected_bytes, reinjections, stalls) = Default::default();
        r.register(
            "connections_active",
            "Connections being served",
            active.clone(),
        );
        r.register(
            "connections",
            "Connections accepted, by protocol",
            total.clone(),
        );
        r.register(
            "connections_failed",
            "Connections that failed, by reason",
            failed.clone(),
        );
        r.register("bytes", "Bytes relayed, by direction", bytes.clone());
        r.register(
            "subflow_bytes",
            "Data-level bytes per subflow index (Braid stack)",
            subflow_bytes.clone(),
        );
        let more: [(&str, &str, &Counter); 4] = [
            (
                "subflows_opened",
                "MPTCP subflows opened (Braid stack)",
                &subflows,
            ),
            (
                "reinjected_bytes",
                "Bytes reinjected on another subflow (Braid stack)",
                &reinjected_bytes,
            ),
            (
                "reinjections",
                "Opportunistic reinjections (Braid stack)",
                &reinjections,
            ),
            (
                "stalls",
                "Slow subflows penalised for stalling the data level (Braid stack)",
                &stalls,
            ),
        ];
        for (name, help, c) in more {
            r.register(name, help, c.clone());
        }
        Metrics {
            registry: Arc::new(r),
            active,
            total,
            failed,
            bytes,
            subflow_bytes,
            subflows,
            reinjected_bytes,
            reinjections,
            stalls,
        }
    }

    /// Counts a failure.
    pub fn fail(&self, reason: &str) {
        self.failed
            .get_or_create(&Reason {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts an accepted connection.
    pub fn accepted(&self, protocol: &str) {
        self.total
            .get_or_create(&Protocol {
                protocol: protocol.to_string(),
            })
            .inc();
    }

    /// The counter of bytes in one direction.
    pub fn bytes(&self, direction: &str) -> Counter {
        self.bytes
            .get_or_create(&Direction {
                direction: direction.to_string(),
            })
            .clone()
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Serves the metrics over HTTP on `listener` until the task is
    /// dropped: any request gets the text exposition.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                continue;
            };
            let m = self.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                // Read the request head (any request will do), bounded.
                let _ = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf)).await;
                let body = m.render();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; \
                     version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    }
}

/// Binds the metrics endpoint (errors name the address).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("metrics address {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_reason() {
        let m = Metrics::new();
        m.accepted("convert");
        m.fail("denied_network");
        m.fail("denied_network");
        m.bytes("downstream").inc_by(42);
        let text = m.render();
        assert!(text.contains("braid_gateway_connections_total{protocol=\"convert\"} 1"));
        assert!(
            text.contains("braid_gateway_connections_failed_total{reason=\"denied_network\"} 2")
        );
        assert!(text.contains("braid_gateway_bytes_total{direction=\"downstream\"} 42"));
        assert!(text.contains("braid_gateway_connections_active 0"));
    }
}
