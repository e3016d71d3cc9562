//! The Kubernetes WebSocket channel protocols (`v5.channel.k8s.io` and older, base64
//! variants): handshake, channel codec and the connection drivers for both roles.
