//! The media plane: RTP framing (RFC 3550), G.711 (RFC 3551), prompts, the paced
//! player and DTMF detection (RFC 4733 events, SIP INFO merge, in-band Goertzel).
//!
//! All of it is pure: no sockets, no clock reads; time comes in as parameters.

pub mod codec;
pub mod dtmf;
pub mod g711;
pub mod goertzel;
pub mod load;
pub mod player;
pub mod prompts;
pub mod relay;
pub mod rtp;
pub mod udp_frame;
