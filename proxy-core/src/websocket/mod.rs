//! The Kubernetes WebSocket channel protocols (`v5.channel.k8s.io` and older, base64
//! variants): handshake, channel codec and the connection drivers for both roles.
//!
//! Layers, bottom up:
//!
//! * RFC 6455 framing is tokio-tungstenite's (masking, fragments, control frames, size
//!   limits from [`codec::MAX_MESSAGE_LEN`]).
//! * [`codec`] maps one WebSocket message to one [`Msg`](crate::channel::Msg) and back (pure).
//! * [`handshake`] checks and answers the HTTP/1.1 upgrade on plain `http::HeaderMap`s, so the
//!   HTTP layer (hyper) stays outside this module.
//! * [`serve`] (toward kubectl) and [`connect`] (toward an API server) drive a socket after
//!   the 101 and expose it as a [`Peer`](crate::peer::Peer), keeping the contract in
//!   [`crate::peer`].

mod client;
pub mod codec;
mod conn;
pub mod handshake;
mod protocol;
mod server;
#[cfg(test)]
mod test_support;

pub use client::{MAX_ERROR_CHANNEL_LEN, PING_INTERVAL, connect};
pub use conn::CLOSE_GRACE;
pub use protocol::WsProtocol;
pub use server::serve;
