//! Entry points for the cargo-fuzz targets in `fuzz/` (not API: hidden, unstable).
//!
//! Each function takes the fuzzer's bytes, derives its inputs (chunk boundaries, protocol,
//! mutation) from them, exercises one part of the library and **panics when a property
//! fails**, not only when the code under test panics. The targets themselves are one line
//! each, like h2's `fuzz_bridge` and rustls' `internal::fuzzing`; keeping the properties
//! here means they are compiled, linted and unit-tested with the library (the seed inputs run
//! as ordinary tests below each module).
//!
//! Properties, by target:
//! * [`spdy_decoder`]: two chunkings of the same bytes give the same frames and the same
//!   error class; every decoded frame re-encodes to bytes that decode to itself.
//! * [`spdy_header_block`]: inflating arbitrary blocks stays within the limits;
//!   `decompress(compress(block)) == block` over one continuous zlib context.
//! * [`websocket_codec`]: `decode` never panics under any sub-protocol and
//!   `decode(encode(frame)) == frame`.
//! * [`websocket_serve`]: raw bytes into the server driver: it ends after EOF, delivers at
//!   most as many payload bytes as it read, and writes a bounded amount back.
//! * [`portforward_serve`]: a kubectl-like client (structured SYN_STREAMs, DATA, resets,
//!   raw SPDY or the WebSocket tunnel) into the port-forward server driver, the harness
//!   playing the proxy for each pair: the driver ends after EOF, announces no more pairs
//!   than valid streams were sent (and never more than `MAX_PAIRS` at once), delivers no
//!   more than the data sent and writes a bounded amount back.
//! * [`request_classifier`]: the upstream path and query rebuilt from a parsed exec/attach
//!   request classify and parse back to the same request.
//! * [`recording_chunk`] / [`recording_verify`]: chunk decoding never panics; one mutation of
//!   a valid recording is never reported intact.
//! * [`config_policy`]: the YAML loaders never panic.
//! * [`json_read_redaction`]: the streaming JSON read redactor gives the same result however
//!   its input is cut, keeps JSON JSON, and masks a planted env password.

mod codec;
mod input;
mod json_read;
mod portforward;
mod record;
mod request;
mod serve;
mod yaml;

pub use codec::{spdy_decoder, spdy_header_block, websocket_codec};
pub use json_read::json_read_redaction;
pub use portforward::portforward_serve;
pub use record::{Recording, recording_chunk, recording_verify};
pub use request::request_classifier;
pub use serve::websocket_serve;
pub use yaml::config_policy;
