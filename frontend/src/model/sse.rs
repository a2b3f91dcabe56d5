//! Server-sent events framing: splits the bytes of `POST /api/v1/run/stream` into `(event, data)`
//! frames. Bytes are buffered until a blank line so a UTF-8 character cut between chunks survives.

/// One SSE frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub event: String,
    pub data: String,
}

/// Accumulates chunks and hands out complete frames.
#[derive(Default)]
pub struct Decoder {
    buffer: Vec<u8>,
}

impl Decoder {
    /// Feed a chunk; returns every frame it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Frame> {
        self.buffer.extend_from_slice(chunk);
        let mut frames = Vec::new();
        while let Some((end, sep)) = frame_end(&self.buffer) {
            let raw: Vec<u8> = self.buffer.drain(..end + sep).collect();
            if let Some(frame) = parse(&String::from_utf8_lossy(&raw[..end])) {
                frames.push(frame);
            }
        }
        frames
    }
}

/// Where the first frame ends (a blank line, `\n\n` or `\r\n\r\n`) and the separator's length.
fn frame_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn parse(text: &str) -> Option<Frame> {
    let mut event = String::from("message");
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = value.to_string(),
            "data" => data.push(value),
            _ => {}
        }
    }
    (!data.is_empty()).then(|| Frame {
        event,
        data: data.join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_chunks_and_utf8() {
        let mut d = Decoder::default();
        let text = "event: queued\ndata: {\"position\":0}\n\n: keep-alive\n\nevent: started\r\ndata: é\r\n\r\n";
        let bytes = text.as_bytes();
        let mut frames = Vec::new();
        for chunk in bytes.chunks(3) {
            frames.extend(d.push(chunk));
        }
        assert_eq!(
            frames,
            vec![
                Frame {
                    event: "queued".into(),
                    data: "{\"position\":0}".into()
                },
                Frame {
                    event: "started".into(),
                    data: "é".into()
                },
            ]
        );
    }

    #[test]
    fn multi_line_data_is_joined() {
        let mut d = Decoder::default();
        assert_eq!(
            d.push(b"data: a\ndata: b\n\n"),
            vec![Frame {
                event: "message".into(),
                data: "a\nb".into()
            }]
        );
        assert!(d.push(b"data: unfinished\n").is_empty());
    }
}
