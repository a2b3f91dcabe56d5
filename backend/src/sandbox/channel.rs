//! JSON-lines messaging over pipes and sockets between the engine, the lab init and the actors.
//! Every read is bounded: a peer that sends an endless line costs the reader at most `max`
//! bytes, then the read fails.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Write one message as a single line (one `write` call, so short lines never interleave).
pub fn send<T: Serialize>(out: &mut File, msg: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)
}

/// Read one message of at most `max` bytes; `None` at end of file. Returns the message and
/// the bytes it took.
pub fn recv<T: DeserializeOwned>(
    input: &mut BufReader<File>,
    max: usize,
) -> io::Result<Option<(T, usize)>> {
    let mut line = Vec::new();
    let n = input
        .by_ref()
        .take(max as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        let why = if n > max {
            format!("a message longer than {max} bytes")
        } else {
            "a message cut short".to_string()
        };
        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
    }
    serde_json::from_slice(&line)
        .map(|msg| Some((msg, n)))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Both directions of a socket, with a bound on what one received message may weigh.
pub struct Duplex {
    pub reader: BufReader<File>,
    pub writer: File,
    max: usize,
}

impl Duplex {
    pub fn new(socket: File, max: usize) -> io::Result<Self> {
        let writer = socket.try_clone()?;
        Ok(Duplex {
            reader: BufReader::new(socket),
            writer,
            max,
        })
    }

    pub fn send<T: Serialize>(&mut self, msg: &T) -> io::Result<()> {
        send(&mut self.writer, msg)
    }

    pub fn recv<T: DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        Ok(recv(&mut self.reader, self.max)?.map(|(msg, _)| msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Seek;

    fn reader_of(bytes: &[u8]) -> BufReader<File> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.rewind().unwrap();
        BufReader::new(f)
    }

    #[test]
    fn an_endless_line_is_refused_after_the_bound() {
        let flood = vec![b'x'; 1 << 20];
        let mut r = reader_of(&flood);
        let err = recv::<serde_json::Value>(&mut r, 4096).unwrap_err();
        assert!(err.to_string().contains("longer than 4096"), "{err}");
    }

    #[test]
    fn messages_within_the_bound_are_read_with_their_size() {
        let mut r = reader_of(b"{\"a\":1}\n[2]\n");
        let (v, n) = recv::<serde_json::Value>(&mut r, 64).unwrap().unwrap();
        assert_eq!((v["a"].as_i64(), n), (Some(1), 8));
        let (v, _) = recv::<serde_json::Value>(&mut r, 64).unwrap().unwrap();
        assert_eq!(v[0], 2);
        assert!(recv::<serde_json::Value>(&mut r, 64).unwrap().is_none());
    }

    #[test]
    fn a_line_cut_by_end_of_file_is_an_error() {
        let mut r = reader_of(b"{\"a\":");
        assert!(recv::<serde_json::Value>(&mut r, 64).is_err());
    }
}
