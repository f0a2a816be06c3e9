//! Wire formats: length-prefixed JSON messages (a u32 big-endian length, then
//! that many bytes of JSON) and docker's stdcopy stream framing.

use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ProtoError;

/// The largest message accepted (an exec request carries a whole process).
pub const MAX_MESSAGE: u32 = 4 << 20;

/// Encodes one message: its length (u32 BE) and its JSON.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, ProtoError> {
    let body = serde_json::to_vec(msg)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|n| *n <= MAX_MESSAGE)
        .ok_or(ProtoError::TooLarge(body.len() as u64))?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Writes one message.
pub fn write_message<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), ProtoError> {
    w.write_all(&encode(msg)?)
        .map_err(|e| ProtoError::io("write message", e))
}

/// Reads one message; `Ok(None)` on a clean end of stream before its first byte.
pub fn read_message<T: DeserializeOwned>(r: &mut impl Read) -> Result<Option<T>, ProtoError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(ProtoError::Closed),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ProtoError::io("read message", e)),
        }
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_MESSAGE {
        return Err(ProtoError::TooLarge(u64::from(len)));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ProtoError::Closed,
        _ => ProtoError::io("read message", e),
    })?;
    Ok(Some(serde_json::from_slice(&body)?))
}

/// Splits complete messages off the front of a buffer filled by non-blocking
/// reads (the shim's side). Returns `Ok(None)` while a message is incomplete.
pub fn take_message(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, ProtoError> {
    let Some(head) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*head);
    if len > MAX_MESSAGE {
        return Err(ProtoError::TooLarge(u64::from(len)));
    }
    let end = 4 + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let body = buf[4..end].to_vec();
    buf.drain(..end);
    Ok(Some(body))
}

/// The stream a stdcopy frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamId {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

/// docker's 8-byte stdcopy header: `[stream, 0, 0, 0, length as u32 BE]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHeader {
    pub stream: StreamId,
    pub len: u32,
}

impl StreamHeader {
    pub fn encode(&self) -> [u8; 8] {
        let l = self.len.to_be_bytes();
        [self.stream as u8, 0, 0, 0, l[0], l[1], l[2], l[3]]
    }

    pub fn decode(b: [u8; 8]) -> Option<StreamHeader> {
        let stream = match b[0] {
            0 => StreamId::Stdin,
            1 => StreamId::Stdout,
            2 => StreamId::Stderr,
            _ => return None,
        };
        Some(StreamHeader {
            stream,
            len: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

/// Appends `data` as stdcopy frames of `stream` to `out`.
pub fn push_frame(out: &mut Vec<u8>, stream: StreamId, data: &[u8]) {
    for chunk in data.chunks(u32::MAX as usize) {
        let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&StreamHeader { stream, len }.encode());
        out.extend_from_slice(chunk);
    }
}

/// Reads one stdcopy frame; `Ok(None)` at the end of the stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(StreamId, Vec<u8>)>> {
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let h = StreamHeader::decode(head)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad stdcopy stream id"))?;
    let mut data = vec![0u8; h.len as usize];
    r.read_exact(&mut data)?;
    Ok(Some((h.stream, data)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Request;

    #[test]
    fn messages_round_trip_and_split() {
        let mut wire = Vec::new();
        for r in [Request::State, Request::Wait] {
            wire.extend(encode(&r).unwrap_or_default());
        }
        let mut cursor = io::Cursor::new(wire.clone());
        let a: Option<Request> = read_message(&mut cursor).ok().flatten();
        let b: Option<Request> = read_message(&mut cursor).ok().flatten();
        assert_eq!(a, Some(Request::State));
        assert_eq!(b, Some(Request::Wait));
        assert!(matches!(read_message::<Request>(&mut cursor), Ok(None)));
        // Byte by byte through take_message.
        let mut buf = Vec::new();
        let mut got = 0;
        for byte in wire {
            buf.push(byte);
            while let Ok(Some(_)) = take_message(&mut buf) {
                got += 1;
            }
        }
        assert_eq!(got, 2);
        // A truncated message is an error, not a hang or a panic.
        let mut short = io::Cursor::new(vec![0, 0, 0, 9, b'{']);
        assert!(matches!(
            read_message::<Request>(&mut short),
            Err(ProtoError::Closed)
        ));
        let mut huge = vec![0xff, 0xff, 0xff, 0xff];
        assert!(take_message(&mut huge).is_err());
    }

    #[test]
    fn stdcopy_frames() {
        let mut out = Vec::new();
        push_frame(&mut out, StreamId::Stderr, b"oops\n");
        assert_eq!(&out[..8], &[2, 0, 0, 0, 0, 0, 0, 5]);
        let mut c = io::Cursor::new(out);
        let f = read_frame(&mut c).ok().flatten();
        assert_eq!(f, Some((StreamId::Stderr, b"oops\n".to_vec())));
        assert!(matches!(read_frame(&mut c), Ok(None)));
        assert!(StreamHeader::decode([7, 0, 0, 0, 0, 0, 0, 0]).is_none());
    }
}
