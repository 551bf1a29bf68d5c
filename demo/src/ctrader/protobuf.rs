//! The simulator's second transport, cTrader's primary one: protobuf over TCP with TLS, as
//! Spotware serves it on port 5035 and as its official SDKs speak it. Each frame is a 4-byte
//! big-endian length and a `ProtoMessage`; `wire::ctrader::protobuf` turns frames into the JSON
//! envelopes the JSON transport carries and back, so both transports are one simulator with one
//! set of answers.
//!
//! TLS uses a certificate made at start ([`TestAuthority`]): a throwaway certificate authority
//! and a server certificate for `localhost` and `127.0.0.1` signed by it. A client trusts the
//! authority's PEM ([`TestAuthority::ca_pem`]); nothing here is meant to protect real traffic.

use super::{CtraderSimulator, Inbound, session};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use wire::ctrader::Envelope;
use wire::ctrader::protobuf as codec;

/// A throwaway certificate authority and the server certificate it signed.
pub struct TestAuthority {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    acceptor: TlsAcceptor,
}

/// Why the test certificates or the TLS set-up failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make the test certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
}

impl TestAuthority {
    /// A new authority and a server certificate for `localhost` and `127.0.0.1`.
    pub fn new() -> Result<Self, TlsError> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(
            rcgen::DnType::CommonName,
            "Riskdeck cTrader simulator test CA",
        );
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
        let server_key = KeyPair::generate()?;
        let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?
            .signed_by(&server_key, &ca)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![server.der().clone(), ca.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )?;
        Ok(Self {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The authority's certificate in PEM, for the client to trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The authority's certificate, for a rustls client to trust.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }
}

impl std::fmt::Debug for TestAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestAuthority").finish_non_exhaustive()
    }
}

/// The frames of cTrader's TCP transport.
pub fn frames() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(codec::MAX_FRAME)
        .new_codec()
}

/// Serves the simulator's protobuf transport on `listener` until `shutdown` completes: TLS with
/// `authority`'s certificate, then frames.
pub async fn serve(
    listener: tokio::net::TcpListener,
    simulator: CtraderSimulator,
    authority: Arc<TestAuthority>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cTrader simulator (protobuf): accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let acceptor = authority.acceptor.clone();
        let simulator = simulator.clone();
        connections.spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(error) => {
                    tracing::debug!(%error, %peer, "cTrader simulator (protobuf): TLS handshake failed");
                    return;
                }
            };
            let (sink, stream) = Framed::new(tls, frames()).split();
            let stream = stream.map(|frame| match frame {
                Ok(frame) => match codec::decode(&frame) {
                    Ok(envelope) => serde_json::to_string(&envelope)
                        .map_or_else(|e| Inbound::Unreadable(e.to_string()), Inbound::Message),
                    Err(error) => Inbound::Unreadable(error.to_string()),
                },
                Err(_) => Inbound::Closed,
            });
            let sink = sink.with(|text: String| {
                std::future::ready(Ok::<_, std::io::Error>(outgoing(&text)))
            });
            session(simulator, stream, sink).await;
        });
    }
    connections.shutdown().await;
    Ok(())
}

/// One of the simulator's JSON envelopes as a protobuf frame. An answer that does not fit
/// Spotware's message is a bug in the simulator: it is logged and sent as a `ProtoErrorRes`, so
/// the client hears of it instead of waiting.
fn outgoing(text: &str) -> bytes::Bytes {
    // The simulator's own envelopes always read back (they were written from one).
    let envelope = serde_json::from_str::<Envelope>(text).unwrap_or(Envelope {
        client_msg_id: None,
        payload_type: wire::ctrader::payload::HEARTBEAT_EVENT,
        payload: serde_json::Value::Null,
    });
    let frame = codec::encode(&envelope).unwrap_or_else(|error| {
        tracing::error!(%error, "cTrader simulator (protobuf): an answer does not fit Spotware's messages");
        codec::encode(&Envelope {
            client_msg_id: envelope.client_msg_id.clone(),
            payload_type: wire::ctrader::payload::ERROR_RES,
            payload: serde_json::json!({
                "errorCode": "INTERNAL_ERROR",
                "description": error.to_string(),
            }),
        })
        .unwrap_or_default()
    });
    bytes::Bytes::from(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctrader::{JsonForm, SimulatorConfig};
    use crate::{DemoBroker, DemoConfig};
    use serde_json::{Value, json};
    use std::collections::HashSet;
    use tokio::net::TcpStream;
    use tokio_rustls::client::TlsStream;
    use wire::ctrader::{self as ct, payload};

    #[test]
    fn the_authority_is_a_certificate_in_pem_and_der() {
        let authority = TestAuthority::new().expect("as the test expects");
        assert!(
            authority
                .ca_pem()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        // DER of a certificate: a SEQUENCE with a two-byte length.
        assert_eq!(authority.ca_der().as_ref()[..2], [0x30, 0x82]);
    }

    /// A client of the protobuf transport, trusting the test authority.
    struct Client {
        framed: Framed<TlsStream<TcpStream>, LengthDelimitedCodec>,
        next: u32,
    }

    impl Client {
        async fn connect(addr: std::net::SocketAddr, authority: &TestAuthority) -> Self {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(authority.ca_der().clone())
                .expect("as the test expects");
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("as the test expects")
                .with_root_certificates(roots)
                .with_no_client_auth();
            let tcp = TcpStream::connect(addr).await.expect("as the test expects");
            let name =
                rustls::pki_types::ServerName::try_from("localhost").expect("as the test expects");
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .expect("as the test expects");
            Client {
                framed: Framed::new(tls, frames()),
                next: 0,
            }
        }

        /// The next frame that is not a heartbeat or an event, or the next event when `events`.
        async fn read(&mut self, events: bool) -> ct::Envelope {
            loop {
                let frame =
                    tokio::time::timeout(std::time::Duration::from_secs(10), self.framed.next())
                        .await
                        .expect("an answer within 10 s")
                        .expect("the connection stays open")
                        .expect("a frame");
                let envelope = codec::decode(&frame).expect("a cTrader message");
                match envelope.payload_type {
                    payload::HEARTBEAT_EVENT => {}
                    payload::SPOT_EVENT | payload::EXECUTION_EVENT if !events => {}
                    _ => return envelope,
                }
            }
        }

        async fn ask(&mut self, payload_type: u32, payload: Value) -> Value {
            self.next += 1;
            let id = self.next.to_string();
            let frame = codec::encode(&ct::Envelope {
                client_msg_id: Some(id.clone()),
                payload_type,
                payload,
            })
            .expect("a request of Spotware's files");
            self.framed
                .send(bytes::Bytes::from(frame))
                .await
                .expect("as the test expects");
            let answer = self.read(false).await;
            assert_eq!(answer.client_msg_id.as_deref(), Some(id.as_str()));
            assert!(
                ![payload::ERROR_RES, payload::OA_ERROR_RES].contains(&answer.payload_type),
                "payload type {payload_type}: {}",
                answer.payload
            );
            answer.payload
        }
    }

    fn read<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).expect("Riskdeck reads the answer")
    }

    #[tokio::test]
    async fn every_answer_fits_spotwares_messages_and_reads_back() {
        let broker = DemoBroker::new(DemoConfig::default(), crate::history_start());
        // The world stands half an hour back, so that moving it on makes new deals.
        let present = chrono::Utc::now();
        broker.pin_clock(Some(present - chrono::TimeDelta::minutes(30)));
        let simulator = CtraderSimulator::new(
            broker.clone(),
            SimulatorConfig {
                client_id: "app".into(),
                client_secret: "secret".into(),
                access_token: "token".into(),
                refresh_token: "refresh".into(),
                token_lifetime: crate::ctrader::TOKEN_LIFETIME,
                money_digits: 2,
                json: JsonForm::Numbers,
            },
        );
        let authority = Arc::new(TestAuthority::new().expect("as the test expects"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("as the test expects");
        let addr = listener.local_addr().expect("as the test expects");
        let stop = tokio_util::sync::CancellationToken::new();
        let served = stop.clone();
        let server = tokio::spawn(serve(
            listener,
            simulator.clone(),
            authority.clone(),
            async move {
                served.cancelled().await;
            },
        ));
        let mut client = Client::connect(addr, &authority).await;

        // Garbage is answered with an error, and the connection goes on.
        client
            .framed
            .send(bytes::Bytes::from_static(b"\xff\xff"))
            .await
            .expect("as the test expects");
        let error = client.read(false).await;
        assert_eq!(error.payload_type, payload::ERROR_RES);
        assert_eq!(error.payload["errorCode"], "INVALID_REQUEST");

        client
            .ask(
                payload::APPLICATION_AUTH_REQ,
                json!({"clientId": "app", "clientSecret": "secret"}),
            )
            .await;
        let accounts: ct::AccountListRes = read(
            client
                .ask(
                    payload::GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ,
                    json!({"accessToken": "token"}),
                )
                .await,
        );
        assert_eq!(accounts.ctid_trader_account.len(), broker.accounts().len());
        let now = chrono::Utc::now().timestamp_millis();
        let mut deals = 0;
        for account in accounts.ctid_trader_account.iter().take(3) {
            let id = account.ctid_trader_account_id;
            let auth = json!({"ctidTraderAccountId": id, "accessToken": "token"});
            client.ask(payload::ACCOUNT_AUTH_REQ, auth).await;
            let account_only = json!({"ctidTraderAccountId": id});
            let trader: ct::TraderRes =
                read(client.ask(payload::TRADER_REQ, account_only.clone()).await);
            assert_eq!(trader.trader.ctid_trader_account_id, id);
            let _: ct::ReconcileRes = read(
                client
                    .ask(payload::RECONCILE_REQ, account_only.clone())
                    .await,
            );
            client
                .ask(
                    payload::GET_POSITION_UNREALIZED_PNL_REQ,
                    account_only.clone(),
                )
                .await;
            client
                .ask(payload::ASSET_LIST_REQ, account_only.clone())
                .await;
            let symbols: ct::SymbolsListRes = read(
                client
                    .ask(payload::SYMBOLS_LIST_REQ, account_only.clone())
                    .await,
            );
            let ids: Vec<i64> = symbols.symbol.iter().map(|s| s.symbol_id).collect();
            let by_id = json!({"ctidTraderAccountId": id, "symbolId": ids});
            client.ask(payload::SYMBOL_BY_ID_REQ, by_id.clone()).await;
            let list: ct::DealListRes = read(
                client
                    .ask(
                        payload::DEAL_LIST_REQ,
                        json!({"ctidTraderAccountId": id, "fromTimestamp": 0, "toTimestamp": now}),
                    )
                    .await,
            );
            deals += list.deal.len();
            client
                .ask(
                    payload::CASH_FLOW_HISTORY_LIST_REQ,
                    json!({"ctidTraderAccountId": id, "fromTimestamp": now - 604_800_000,
                           "toTimestamp": now}),
                )
                .await;
            client.ask(payload::SUBSCRIBE_SPOTS_REQ, by_id).await;
            // Let the history limit (5 a second) refill.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        assert!(deals > 0, "the demo world's history has deals");
        let spot = client.read(true).await;
        assert_eq!(spot.payload_type, payload::SPOT_EVENT);
        let spot: ct::SpotEvent = read(spot.payload);
        assert!(spot.bid.is_some() || spot.ask.is_some());

        // New deals reach the authorized accounts as execution events: a deposit with the
        // balance, then the half hour's trades, each once.
        let first = accounts.ctid_trader_account[0].ctid_trader_account_id;
        let name = simulator.demo_account(first).expect("a demo account");
        broker
            .book_balance(&name, rust_decimal::Decimal::new(12_345, 1))
            .expect("deposit");
        let mut deposit = None;
        let mut filled = HashSet::new();
        broker.pin_clock(Some(present));
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline && (deposit.is_none() || filled.len() < 3) {
            let event = client.read(true).await;
            if event.payload_type != payload::EXECUTION_EVENT {
                continue;
            }
            let body = &event.payload;
            match body["executionType"].as_str() {
                Some("DEPOSIT_WITHDRAW") => {
                    let flow: ct::DepositWithdraw = read(body["depositWithdraw"].clone());
                    assert_eq!(body["ctidTraderAccountId"], json!(first.to_string()));
                    deposit = Some(flow.delta);
                }
                Some("ORDER_FILLED") => {
                    let deal: ct::Deal = read(body["deal"].clone());
                    assert!(
                        filled.insert(deal.deal_id),
                        "deal {} told twice",
                        deal.deal_id
                    );
                    assert!(body["position"]["positionStatus"].is_string());
                }
                other => panic!("an execution event of type {other:?}"),
            }
        }
        assert_eq!(deposit, Some(123_450), "the deposit, in cents");
        assert!(filled.len() >= 3, "the half hour's trades: {filled:?}");
        stop.cancel();
        server
            .await
            .expect("as the test expects")
            .expect("as the test expects");
    }
}
