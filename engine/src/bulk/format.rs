//! ADT's bulk file format (the input of import jobs): NDJSON, one JSON value per line, split
//! into sections by marker lines `{"Section": "Header"}`, `{"Section": "Models"}`,
//! `{"Section": "Twins"}` and `{"Section": "Relationships"}`. The Header section comes first;
//! the others are optional but appear in that order, each at most once.
//!
//! The reader streams: it holds one line at a time and never parses data lines (workers do,
//! in parallel); the writer emits the same format, every section marker included, so that an
//! export is a valid import file.

use std::io::{BufRead, Read, Write};

use serde_json::Value;

use crate::error::{Error, Invalid, Result};

/// Longest line accepted: a model may be 1 MiB of JSON; anything longer is refused rather
/// than buffered.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    Header,
    Models,
    Twins,
    Relationships,
}

impl Section {
    pub fn name(self) -> &'static str {
        match self {
            Section::Header => "Header",
            Section::Models => "Models",
            Section::Twins => "Twins",
            Section::Relationships => "Relationships",
        }
    }

    fn parse(name: &str) -> Option<Section> {
        Some(match name {
            "Header" => Section::Header,
            "Models" => Section::Models,
            "Twins" => Section::Twins,
            "Relationships" => Section::Relationships,
            _ => return None,
        })
    }
}

/// One data line of a section, still unparsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the file.
    pub number: u64,
    pub section: Section,
    pub text: String,
}

/// A problem with one line: what a report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub reason: String,
}

/// What the reader yields: a data line, or a line it could not read (not UTF-8, too long),
/// which the caller may skip.
pub type ReadItem = std::result::Result<Line, LineError>;

/// `ReadItem` borrowing the reader's buffer: (line number, section, text).
pub type TextItem<'a> = std::result::Result<(u64, Section, &'a str), LineError>;

/// Streams the data lines of a bulk file. Structural errors (no Header first, sections out of
/// order or repeated, an unknown section) end the file: nothing after them can be placed.
pub struct Reader<R> {
    input: R,
    line: u64,
    /// Bytes consumed so far, for progress.
    bytes: u64,
    section: Option<Section>,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R) -> Reader<R> {
        Reader {
            input,
            line: 0,
            bytes: 0,
            section: None,
            buf: Vec::new(),
            done: false,
        }
    }

    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    pub fn line_number(&self) -> u64 {
        self.line
    }

    /// The next data line, `Ok(None)` at the end, `Err` for a structural error.
    pub fn next_line(&mut self) -> Result<Option<ReadItem>> {
        Ok(self.next_text()?.map(|item| {
            item.map(|(number, section, text)| Line {
                number,
                section,
                text: text.to_string(),
            })
        }))
    }

    /// `next_line` without copying the text out (it is valid until the next call).
    pub fn next_text(&mut self) -> Result<Option<TextItem<'_>>> {
        loop {
            if self.done {
                return Ok(None);
            }
            self.buf.clear();
            let limit = (MAX_LINE_BYTES + 1) as u64;
            let n = (&mut self.input)
                .take(limit)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::invalid(Invalid::Argument, format!("reading: {e}")))?;
            if n == 0 {
                self.done = true;
                return Ok(None);
            }
            self.line += 1;
            self.bytes += n as u64;
            let number = self.line;
            if self.buf.last() != Some(&b'\n') && n > MAX_LINE_BYTES {
                self.skip_rest_of_line()?;
                return Ok(Some(Err(LineError {
                    line: number,
                    reason: format!("the line is longer than {MAX_LINE_BYTES} bytes"),
                })));
            }
            let Ok(text) = simdutf8::basic::from_utf8(&self.buf) else {
                return Ok(Some(Err(LineError {
                    line: number,
                    reason: "the line is not UTF-8".into(),
                })));
            };
            let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            if text.is_empty() {
                continue;
            }
            if let Some(section) = marker(text, number)? {
                self.enter(section, number)?;
                continue;
            }
            let Some(section) = self.section else {
                return Err(structure(
                    number,
                    "the file must start with the line {\"Section\": \"Header\"}",
                ));
            };
            // Borrowck: `text` borrows `self.buf`; find it again by its offsets.
            let start = text.as_ptr() as usize - self.buf.as_ptr() as usize;
            let end = start + text.len();
            return match simdutf8::basic::from_utf8(&self.buf[start..end]) {
                Ok(text) => Ok(Some(Ok((number, section, text)))),
                Err(_) => Err(Error::Internal("a checked line is not UTF-8".into())),
            };
        }
    }

    fn enter(&mut self, section: Section, line: u64) -> Result<()> {
        match self.section {
            None if section != Section::Header => Err(structure(
                line,
                &format!(
                    "the {} section comes before the Header section; the file must start with {{\"Section\": \"Header\"}}",
                    section.name()
                ),
            )),
            Some(current) if section <= current => Err(structure(
                line,
                &format!(
                    "the {} section comes after the {} section; sections must appear once each, in the order Header, Models, Twins, Relationships",
                    section.name(),
                    current.name()
                ),
            )),
            _ => {
                self.section = Some(section);
                Ok(())
            }
        }
    }

    fn skip_rest_of_line(&mut self) -> Result<()> {
        loop {
            let (found, used) = {
                let available = self
                    .input
                    .fill_buf()
                    .map_err(|e| Error::invalid(Invalid::Argument, format!("reading: {e}")))?;
                if available.is_empty() {
                    return Ok(());
                }
                match available.iter().position(|b| *b == b'\n') {
                    Some(i) => (true, i + 1),
                    None => (false, available.len()),
                }
            };
            self.input.consume(used);
            self.bytes += used as u64;
            if found {
                return Ok(());
            }
        }
    }
}

fn structure(line: u64, reason: &str) -> Error {
    Error::invalid(Invalid::Argument, format!("line {line}: {reason}"))
}

/// The section a marker line names, `None` for a data line. Only short lines mentioning
/// `Section` are parsed here: data lines are left to the workers.
fn marker(text: &str, line: u64) -> Result<Option<Section>> {
    if text.len() > 64 || !text.contains("\"Section\"") {
        return Ok(None);
    }
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Ok(None);
    };
    if map.len() != 1 {
        return Ok(None);
    }
    match map.get("Section") {
        Some(Value::String(name)) => match Section::parse(name) {
            Some(section) => Ok(Some(section)),
            None => Err(structure(
                line,
                &format!(
                    "unknown section '{name}'; expected Header, Models, Twins or Relationships"
                ),
            )),
        },
        _ => Ok(None),
    }
}

/// Writes a bulk file: every section marker, in order, even for empty sections.
pub struct Writer<W: Write> {
    out: W,
    section: Option<Section>,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Writer<W> {
        Writer { out, section: None }
    }

    /// Writes `value` as one line of `section`, first the markers of any sections before it.
    pub fn write(&mut self, section: Section, value: &Value) -> std::io::Result<()> {
        self.enter(section)?;
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")
    }

    /// Writes a line already encoded as JSON (no newline inside).
    pub fn write_raw(&mut self, section: Section, json: &[u8]) -> std::io::Result<()> {
        self.enter(section)?;
        self.out.write_all(json)?;
        self.out.write_all(b"\n")
    }

    /// Writes lines already encoded, each ending with a newline.
    pub fn write_lines(&mut self, section: Section, lines: &[u8]) -> std::io::Result<()> {
        self.enter(section)?;
        self.out.write_all(lines)
    }

    fn enter(&mut self, section: Section) -> std::io::Result<()> {
        for s in [
            Section::Header,
            Section::Models,
            Section::Twins,
            Section::Relationships,
        ] {
            if s > section {
                break;
            }
            if self.section.is_none_or(|current| s > current) {
                writeln!(self.out, "{{\"Section\":\"{}\"}}", s.name())?;
                self.section = Some(s);
            }
        }
        Ok(())
    }

    /// Writes the markers of the sections not reached yet and returns the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.enter(Section::Relationships)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_all(text: &str) -> Result<Vec<ReadItem>> {
        let mut reader = Reader::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(item) = reader.next_line()? {
            out.push(item);
        }
        Ok(out)
    }

    #[test]
    fn sections_and_line_numbers() {
        let text = "{\"Section\": \"Header\"}\n{\"fileVersion\":\"1.0.0\"}\n\n{\"Section\":\"Twins\"}\n{\"$dtId\":\"a\"}\r\n{\"Section\": \"Relationships\"}\n{\"$dtId\":\"a\"}";
        let lines: Vec<Line> = read_all(text)
            .unwrap()
            .into_iter()
            .map(|l| l.unwrap())
            .collect();
        let got: Vec<(u64, Section, &str)> = lines
            .iter()
            .map(|l| (l.number, l.section, l.text.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, Section::Header, "{\"fileVersion\":\"1.0.0\"}"),
                (5, Section::Twins, "{\"$dtId\":\"a\"}"),
                (7, Section::Relationships, "{\"$dtId\":\"a\"}"),
            ]
        );
    }

    #[test]
    fn structural_errors_name_the_line() {
        let no_header = read_all("{\"Section\": \"Twins\"}\n{}\n").unwrap_err();
        assert!(no_header.to_string().starts_with("line 1:"), "{no_header}");
        let data_first = read_all("{\"a\": 1}\n").unwrap_err();
        assert!(
            data_first.to_string().contains("must start"),
            "{data_first}"
        );
        let order = read_all(
            "{\"Section\": \"Header\"}\n{\"Section\": \"Twins\"}\n{\"Section\": \"Models\"}\n",
        )
        .unwrap_err();
        assert!(order.to_string().starts_with("line 3:"), "{order}");
        let twice = read_all(
            "{\"Section\": \"Header\"}\n{\"Section\": \"Twins\"}\n{\"Section\": \"Twins\"}\n",
        )
        .unwrap_err();
        assert!(twice.to_string().contains("once each"), "{twice}");
        let unknown =
            read_all("{\"Section\": \"Header\"}\n{\"Section\": \"Routes\"}\n").unwrap_err();
        assert!(unknown.to_string().contains("unknown section"), "{unknown}");
    }

    #[test]
    fn unreadable_lines_are_line_errors() {
        let mut bytes = b"{\"Section\": \"Header\"}\n{\"Section\": \"Twins\"}\n".to_vec();
        bytes.extend_from_slice(b"\xff\xfe\n");
        bytes.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        bytes.extend_from_slice(b"\n{\"$dtId\":\"ok\"}\n");
        let mut reader = Reader::new(&bytes[..]);
        let mut items = Vec::new();
        while let Some(item) = reader.next_line().unwrap() {
            items.push(item);
        }
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap_err().line, 3);
        assert!(items[1].as_ref().unwrap_err().reason.contains("longer"));
        assert_eq!(items[2].as_ref().unwrap().number, 5);
        assert_eq!(reader.bytes_read(), bytes.len() as u64);
    }

    #[test]
    fn writer_emits_every_marker_and_reads_back() {
        let mut w = Writer::new(Vec::new());
        w.write(Section::Header, &json!({"fileVersion": "1.0.0"}))
            .unwrap();
        w.write(Section::Twins, &json!({"$dtId": "a"})).unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            out,
            "{\"Section\":\"Header\"}\n{\"fileVersion\":\"1.0.0\"}\n{\"Section\":\"Models\"}\n{\"Section\":\"Twins\"}\n{\"$dtId\":\"a\"}\n{\"Section\":\"Relationships\"}\n"
        );
        let lines = read_all(&out).unwrap();
        assert_eq!(lines.len(), 2);
    }
}
