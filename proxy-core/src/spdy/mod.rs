//! SPDY/3.1 as Kubernetes uses it (moby/spdystream): frame codec, zlib header blocks and
//! the connection drivers for both roles.
