//! SPDY/3.1 as Kubernetes uses it (moby/spdystream): frame codec, zlib header blocks and
//! the connection drivers for both roles.
//!
//! Layers, bottom up:
//! * [`frame`]: pure parse/encode of each frame type, strict where spdystream is strict;
//! * [`header_block`] and [`zlib`]: the name/value block and the per-direction,
//!   dictionary-primed, never-finished zlib streams, with hard limits (zlib-bomb safe);
//! * [`decoder`]: the streaming decoder (`BytesMut` in, frames out, zero copy);
//! * [`handshake`]: the HTTP/1.1 upgrade headers and `X-Stream-Protocol-Version`
//!   negotiation;
//! * [`serve`] / [`connect`]: the connection drivers (server role toward kubectl, client
//!   role toward an API server or kubelet), each exposed as a [`crate::peer::Peer`].

pub(crate) mod budget;
mod client;
pub(crate) mod conn;
pub mod decoder;
mod error;
pub mod frame;
pub mod handshake;
pub mod header_block;
pub(crate) mod pings;
mod server;
pub mod zlib;

pub use budget::MAX_INVALID_STREAM_RESETS;
pub use client::{MAX_ERROR_STREAM, PING_PERIOD, STREAM_REPLY_TIMEOUT, connect};
pub use error::Error;
pub use pings::MAX_DEFERRED_PINGS;
pub use server::{MAX_STREAMS, STREAM_OPEN_TIMEOUT, serve};

#[cfg(test)]
pub(crate) mod tests;
