//! A synchronous rtnetlink socket: one request, its acknowledgement or its
//! dump, on the thread that calls it (and so in that thread's network
//! namespace).
//!
//! Built on `netlink-packet-route` (the message types) and `netlink-sys`
//! (the socket) from the rust-netlink project, which `rtnetlink` itself sits
//! on: the requests berth makes are few and strictly one after another, so a
//! blocking socket is all that is needed, and no async runtime is linked.

use std::io;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::NetlinkError;

/// A connected `NETLINK_ROUTE` socket.
pub(crate) struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink").field("seq", &self.seq).finish()
    }
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub(crate) fn open() -> Result<Netlink, NetlinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
        socket.bind_auto().map_err(NetlinkError::Socket)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(NetlinkError::Socket)?;
        // Errors carry only the header of the request back, not all of it.
        socket.set_cap_ack(true).map_err(NetlinkError::Socket)?;
        Ok(Netlink {
            socket,
            seq: 0,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Sends a request that changes something and waits for its ack.
    /// `flags` are added to `NLM_F_REQUEST | NLM_F_ACK` (`NLM_F_CREATE`...).
    pub(crate) fn execute(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), NetlinkError> {
        self.roundtrip(op, msg, NLM_F_REQUEST | NLM_F_ACK | flags)
            .map(|_| ())
    }

    /// Sends a dump request and collects every message of the answer.
    pub(crate) fn dump(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        self.roundtrip(op, msg, NLM_F_REQUEST | NLM_F_DUMP)
    }

    /// Sends a request for one object (`RTM_GETLINK` by name) and returns it.
    pub(crate) fn get(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        self.roundtrip(op, msg, NLM_F_REQUEST | NLM_F_ACK)
    }

    fn roundtrip(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.socket
            .send(&out, 0)
            .map_err(|source| request_error(op, source))?;

        let mut answers = Vec::new();
        loop {
            self.buf.clear();
            let (received, _) = self
                .socket
                .recv_from(&mut self.buf, libc::MSG_TRUNC)
                .map_err(|source| request_error(op, source))?;
            if received > self.buf.len() {
                // MSG_TRUNC: the buffer was too small for the datagram.
                self.buf.reserve(received);
                return Err(NetlinkError::Decode {
                    op: op.to_owned(),
                    detail: format!("a {received}-byte message was truncated"),
                });
            }
            let mut offset = 0;
            while offset < self.buf.len() {
                let bytes = self.buf.get(offset..).unwrap_or_default();
                let message =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).map_err(|e| {
                        NetlinkError::Decode {
                            op: op.to_owned(),
                            detail: e.to_string(),
                        }
                    })?;
                let length = message.header.length as usize;
                if length == 0 {
                    break;
                }
                offset += length;
                if message.header.sequence_number != seq {
                    continue;
                }
                match message.payload {
                    NetlinkPayload::Done(_) => return Ok(answers),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(answers),
                            Some(code) => {
                                Err(request_error(op, io::Error::from_raw_os_error(-code.get())))
                            }
                        };
                    }
                    NetlinkPayload::InnerMessage(inner) => answers.push(inner),
                    NetlinkPayload::Noop | NetlinkPayload::Overrun(_) => {}
                    _ => {}
                }
            }
        }
    }
}

fn request_error(op: &str, source: io::Error) -> NetlinkError {
    NetlinkError::Request {
        op: op.to_owned(),
        source,
    }
}
