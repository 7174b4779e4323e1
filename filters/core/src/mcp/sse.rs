//! An incremental Server-Sent Events parser (WHATWG HTML, "event stream interpretation").
//!
//! Envoy hands a filter the response body in chunks of whatever size the network produced,
//! so an event, a line, even a CRLF pair may be split anywhere. The parser keeps only the
//! bytes of the event in progress, emits each event as soon as its blank line arrives (so
//! interactive streams are never held back), and keeps every event's exact raw bytes so a
//! filter can forward what it does not rewrite byte for byte.

use std::fmt;

/// One complete event block (including comment-only blocks such as keep-alives).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The exact bytes of the block, terminating blank line included.
    pub raw: Vec<u8>,
    /// `event:` field; `None` means the default type `message`.
    pub event: Option<String>,
    /// Joined `data:` lines; `None` when the block had no data line (nothing is dispatched).
    pub data: Option<String>,
    pub id: Option<String>,
    pub retry: Option<u64>,
}

impl SseEvent {
    /// Encode an event with the given fields; multi-line data becomes several `data:` lines.
    pub fn encode(event: Option<&str>, data: &str, id: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 32);
        if let Some(event) = event {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(event.as_bytes());
            out.push(b'\n');
        }
        if let Some(id) = id {
            out.extend_from_slice(b"id: ");
            out.extend_from_slice(id.as_bytes());
            out.push(b'\n');
        }
        for line in data.split('\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out
    }

    /// This event re-encoded with new data, keeping its type, id and retry.
    pub fn with_data(&self, data: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(retry) = self.retry {
            out.extend_from_slice(format!("retry: {retry}\n").as_bytes());
        }
        out.extend(SseEvent::encode(
            self.event.as_deref(),
            data,
            self.id.as_deref(),
        ));
        out
    }
}

/// Why a stream cannot be parsed safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseError {
    /// One event grew past the configured bound before it completed.
    EventTooLarge { limit: usize },
}

impl SseError {
    /// Stable machine-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            SseError::EventTooLarge { .. } => "sse_event_too_large",
        }
    }
}

impl From<SseError> for crate::denial::Denial {
    /// An event stream that cannot be inspected is unsafe to relay: 502, whichever filter
    /// (the response pipeline or a filter's own event check) found it.
    fn from(e: SseError) -> Self {
        Self::new(
            502,
            crate::denial::Control::Protocol,
            e.reason(),
            "unsafe event stream",
        )
    }
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::EventTooLarge { limit } => {
                write!(f, "an SSE event exceeded {limit} bytes before it completed")
            }
        }
    }
}

impl std::error::Error for SseError {}

/// Incremental parser state: the bytes of the event in progress and its fields so far.
#[derive(Debug)]
pub struct SseParser {
    buf: Vec<u8>,
    /// Start of the first line of `buf` not yet interpreted.
    line_start: usize,
    current: SseEvent,
    data: String,
    has_data: bool,
    max_event_bytes: usize,
    /// Whether the stream's start was checked for a byte-order mark (stripped for parsing).
    bom_checked: bool,
}

impl SseParser {
    /// A parser that refuses any single event larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            buf: Vec::new(),
            line_start: 0,
            current: SseEvent::default(),
            data: String::new(),
            has_data: false,
            max_event_bytes,
            bom_checked: false,
        }
    }

    /// Feed the next chunk; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        self.buf.extend_from_slice(chunk);
        if !self.bom_checked {
            const BOM: &[u8] = "\u{feff}".as_bytes();
            if self.buf.len() < BOM.len() && BOM.starts_with(&self.buf) {
                // Could still become a BOM: decide when more bytes arrive.
                return Ok(Vec::new());
            }
            self.bom_checked = true;
            if self.buf.starts_with(BOM) {
                self.line_start = BOM.len();
            }
        }
        let mut events = Vec::new();
        while let Some((line_end, next)) = self.next_line_end() {
            let line_start = self.line_start;
            self.line_start = next;
            if line_end == line_start {
                events.push(self.finish_event(next));
            } else {
                let line = String::from_utf8_lossy(&self.buf[line_start..line_end]).into_owned();
                self.interpret_line(&line);
            }
        }
        if self.buf.len() > self.max_event_bytes {
            return Err(SseError::EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        Ok(events)
    }

    /// Bytes of an event still incomplete (at end of stream they are not an event).
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Find the end of the next complete line: (index of terminator, index after it).
    /// A trailing CR is not yet a line end: the next chunk may begin with its LF.
    fn next_line_end(&self) -> Option<(usize, usize)> {
        let rest = &self.buf[self.line_start..];
        let pos = rest.iter().position(|&b| b == b'\n' || b == b'\r')?;
        let at = self.line_start + pos;
        match self.buf[at] {
            b'\n' => Some((at, at + 1)),
            _ if at + 1 == self.buf.len() => None,
            _ if self.buf[at + 1] == b'\n' => Some((at, at + 2)),
            _ => Some((at, at + 1)),
        }
    }

    fn interpret_line(&mut self, line: &str) {
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "event" => self.current.event = Some(value.to_string()),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.current.id = Some(value.to_string()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.current.retry = value.parse().ok();
            }
            _ => {}
        }
    }

    fn finish_event(&mut self, end: usize) -> SseEvent {
        let mut event = std::mem::take(&mut self.current);
        event.raw = self.buf.drain(..end).collect();
        self.line_start = 0;
        if self.has_data {
            let mut data = std::mem::take(&mut self.data);
            data.pop();
            event.data = Some(data);
        }
        self.has_data = false;
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b": keep-alive\n\nevent: message\nid: 1\ndata: {\"a\":\ndata: 1}\n\nretry: 300\r\ndata: second\r\n\r\ndata: third\r\rdata:fourth\n\n";

    fn collect(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new(1 << 20);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.push(c).unwrap());
        }
        assert!(p.pending().is_empty(), "left over: {:?}", p.pending());
        out
    }

    #[test]
    fn parses_whole_stream() {
        let events = collect(&[STREAM]);
        assert_eq!(events.len(), 5);
        assert_eq!(events[0].data, None);
        assert_eq!(events[0].raw, b": keep-alive\n\n");
        assert_eq!(events[1].event.as_deref(), Some("message"));
        assert_eq!(events[1].id.as_deref(), Some("1"));
        assert_eq!(events[1].data.as_deref(), Some("{\"a\":\n1}"));
        assert_eq!(events[2].retry, Some(300));
        assert_eq!(events[2].data.as_deref(), Some("second"));
        assert_eq!(events[3].data.as_deref(), Some("third"));
        assert_eq!(events[4].data.as_deref(), Some("fourth"));
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let whole = collect(&[STREAM]);
        for i in 0..=STREAM.len() {
            for j in i..=STREAM.len() {
                let parts = collect(&[&STREAM[..i], &STREAM[i..j], &STREAM[j..]]);
                assert_eq!(parts, whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn byte_by_byte_raw_concatenates_to_input() {
        let chunks: Vec<&[u8]> = STREAM.chunks(1).collect();
        let events = collect(&chunks);
        let raw: Vec<u8> = events.iter().flat_map(|e| e.raw.clone()).collect();
        assert_eq!(raw, STREAM);
    }

    #[test]
    fn incomplete_event_stays_pending() {
        let mut p = SseParser::new(1024);
        assert!(p.push(b"data: partial\n").unwrap().is_empty());
        assert_eq!(p.pending(), b"data: partial\n");
        let events = p.push(b"\n").unwrap();
        assert_eq!(events[0].data.as_deref(), Some("partial"));
    }

    #[test]
    fn strips_leading_bom_only_for_parsing() {
        let mut p = SseParser::new(1024);
        let events = p.push("\u{feff}data: x\n\n".as_bytes()).unwrap();
        assert_eq!(events[0].data.as_deref(), Some("x"));
        assert!(events[0].raw.starts_with("\u{feff}".as_bytes()));
    }

    #[test]
    fn bom_split_across_chunks_is_still_a_bom() {
        // Found by the `sse` fuzz target: the BOM arrived in two chunks.
        let input = "\u{feff}\n\ndata: x\n\n".as_bytes();
        let one = collect(&[input]);
        for cut in 0..input.len() {
            assert_eq!(collect(&[&input[..cut], &input[cut..]]), one, "cut {cut}");
        }
    }

    #[test]
    fn field_without_colon_and_unknown_fields() {
        let events = collect(&[b"data\nfoo: bar\n\n"]);
        assert_eq!(events[0].data.as_deref(), Some(""));
    }

    #[test]
    fn refuses_oversized_event() {
        let mut p = SseParser::new(16);
        assert_eq!(
            p.push(b"data: 0123456789abcdef").unwrap_err(),
            SseError::EventTooLarge { limit: 16 }
        );
    }

    #[test]
    fn encode_round_trips() {
        let bytes = SseEvent::encode(Some("message"), "a\nb", Some("9"));
        let events = collect(&[&bytes]);
        assert_eq!(events[0].data.as_deref(), Some("a\nb"));
        assert_eq!(events[0].id.as_deref(), Some("9"));
        let again = events[0].with_data("c");
        assert_eq!(collect(&[&again])[0].data.as_deref(), Some("c"));
    }
}
