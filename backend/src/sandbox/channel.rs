//! JSON-lines messaging over pipes and sockets between the engine, the lab init and the actors.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Write one message as a single line (one `write` call, so short lines never interleave).
pub fn send<T: Serialize>(out: &mut File, msg: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)
}

/// Read one message; `None` at end of file.
pub fn recv<T: DeserializeOwned>(input: &mut BufReader<File>) -> io::Result<Option<T>> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Both directions of a socket.
pub struct Duplex {
    pub reader: BufReader<File>,
    pub writer: File,
}

impl Duplex {
    pub fn new(socket: File) -> io::Result<Self> {
        let writer = socket.try_clone()?;
        Ok(Duplex {
            reader: BufReader::new(socket),
            writer,
        })
    }

    pub fn send<T: Serialize>(&mut self, msg: &T) -> io::Result<()> {
        send(&mut self.writer, msg)
    }

    pub fn recv<T: DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        recv(&mut self.reader)
    }
}
