//! A small JSON scanner that validates a document and reports byte offsets, so an edit can
//! replace one value without re-serialising (and so reformatting) anything else.
//!
//! It is iterative (a heap stack, no recursion), so deeply nested notebook outputs cannot
//! overflow the thread stack, and it accepts exactly RFC 8259 JSON (what Python's `json`
//! module writes; `NaN`/`Infinity` literals, which Python also reads, are accepted as values).

use std::ops::Range;

/// Why a document is not JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {what}")]
pub struct ScanError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What was expected or found.
    pub what: &'static str,
}

/// One `"key": value` member of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The decoded key.
    pub key: String,
    /// Bytes of the key, quotes included.
    pub key_span: Range<usize>,
    /// Bytes of the value.
    pub value_span: Range<usize>,
}

/// A cursor over the bytes of a JSON document.
pub struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at `pos` of `bytes`.
    pub fn at(bytes: &'a [u8], pos: usize) -> Scanner<'a> {
        Scanner { bytes, pos }
    }

    fn err<T>(&self, what: &'static str) -> Result<T, ScanError> {
        Err(ScanError {
            offset: self.pos,
            what,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips JSON whitespace (space, tab, newline, carriage return).
    pub fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), ScanError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(what)
        }
    }

    /// The current offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// After the root value: only whitespace may follow.
    pub fn end(&mut self) -> Result<(), ScanError> {
        self.ws();
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            self.err("unexpected data after the document")
        }
    }

    /// Reads a string at the cursor and returns it decoded.
    pub fn string(&mut self) -> Result<String, ScanError> {
        self.expect(b'"', "expected a string")?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return self.err("unterminated string");
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return self.err("unterminated escape");
                    };
                    self.pos += 1;
                    let simple = match e {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(0x08),
                        b'f' => Some(0x0c),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'u' => None,
                        _ => return self.err("invalid escape"),
                    };
                    if let Some(s) = simple {
                        out.push(s);
                        continue;
                    }
                    let first = self.hex4()?;
                    let c = if (0xD800..0xDC00).contains(&first) {
                        // A high surrogate: a low one should follow; a lone one decodes to
                        // U+FFFD, as Python would keep it as a lone surrogate we cannot hold.
                        if self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u") {
                            let save = self.pos;
                            self.pos += 2;
                            let second = self.hex4()?;
                            if (0xDC00..0xE000).contains(&second) {
                                let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                                char::from_u32(code).unwrap_or('\u{FFFD}')
                            } else {
                                self.pos = save;
                                '\u{FFFD}'
                            }
                        } else {
                            '\u{FFFD}'
                        }
                    } else {
                        char::from_u32(first).unwrap_or('\u{FFFD}')
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0x00..=0x1f => return self.err("control character in a string"),
                _ => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8(out).or_else(|_| self.err("string is not UTF-8"))
    }

    fn hex4(&mut self) -> Result<u32, ScanError> {
        let Some(digits) = self.bytes.get(self.pos..self.pos + 4) else {
            return self.err("short \\u escape");
        };
        let mut v = 0u32;
        for d in digits {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return self.err("invalid \\u escape"),
            };
            v = v * 16 + u32::from(n);
        }
        self.pos += 4;
        Ok(v)
    }

    fn number(&mut self) -> Result<(), ScanError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        if self.bytes[self.pos..].starts_with(b"Infinity") {
            self.pos += 8;
            return Ok(());
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
            }
            _ => {
                self.pos = start;
                return self.err("expected a value");
            }
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) -> Result<(), ScanError> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        if self.pos == start {
            self.err("expected a digit")
        } else {
            Ok(())
        }
    }

    fn literal(&mut self) -> Result<(), ScanError> {
        for word in [&b"true"[..], b"false", b"null", b"NaN"] {
            if self.bytes[self.pos..].starts_with(word) {
                self.pos += word.len();
                return Ok(());
            }
        }
        self.err("expected a value")
    }

    /// Skips one value (any depth) at the cursor, after leading whitespace; returns its span.
    pub fn value(&mut self) -> Result<Range<usize>, ScanError> {
        self.ws();
        let start = self.pos;
        // Open containers: `{` or `[`.
        let mut stack: Vec<u8> = Vec::new();
        loop {
            // A value is expected here.
            self.ws();
            match self.peek() {
                Some(b'{') => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                    } else {
                        stack.push(b'{');
                        self.key()?;
                        continue;
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                    } else {
                        stack.push(b'[');
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b'-' | b'0'..=b'9' | b'I') => self.number()?,
                Some(_) => self.literal()?,
                None => return self.err("unexpected end of the document"),
            }
            // A value ended: close containers until one wants another member.
            loop {
                let Some(&top) = stack.last() else {
                    return Ok(start..self.pos);
                };
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if top == b'{' {
                            self.ws();
                            self.key()?;
                        }
                        break;
                    }
                    Some(b'}') if top == b'{' => {
                        self.pos += 1;
                        stack.pop();
                    }
                    Some(b']') if top == b'[' => {
                        self.pos += 1;
                        stack.pop();
                    }
                    _ => return self.err("expected ',' or the end of a container"),
                }
            }
        }
    }

    /// `"key" :` (with whitespace around).
    fn key(&mut self) -> Result<String, ScanError> {
        self.ws();
        let key = self.string()?;
        self.ws();
        self.expect(b':', "expected ':' after a key")?;
        Ok(key)
    }

    /// Reads the object at the cursor (after whitespace), returning its members in order and
    /// the span of the whole object.
    pub fn object(&mut self) -> Result<(Vec<Member>, Range<usize>), ScanError> {
        self.ws();
        let start = self.pos;
        self.expect(b'{', "expected an object")?;
        let mut members = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok((members, start..self.pos));
        }
        loop {
            self.ws();
            let key_start = self.pos;
            let key = self.string()?;
            let key_span = key_start..self.pos;
            self.ws();
            self.expect(b':', "expected ':' after a key")?;
            let value_span = self.value()?;
            members.push(Member {
                key,
                key_span,
                value_span,
            });
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok((members, start..self.pos));
                }
                _ => return self.err("expected ',' or '}'"),
            }
        }
    }
}

/// The last member named `key` (Python's `json` keeps the last of duplicate keys).
pub fn last_member<'m>(members: &'m [Member], key: &str) -> Option<&'m Member> {
    members.iter().rev().find(|m| m.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(text: &str) -> Result<Range<usize>, ScanError> {
        let mut s = Scanner::at(text.as_bytes(), 0);
        let r = s.value()?;
        s.end()?;
        Ok(r)
    }

    #[test]
    fn accepts_json_values() {
        for ok in [
            "{}",
            "[]",
            " {\"a\": [1, 2.5e-3, -0, true, false, null, \"x\\u00e9\\n\"], \"b\": {}} ",
            "[[[[[]]]]]",
            "-Infinity",
            "NaN",
            "\"\\ud83d\\ude00\"",
        ] {
            assert!(skip(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_broken_json_with_an_offset() {
        for (bad, at) in [
            ("{", 1),
            ("{\"a\" 1}", 5),
            ("[1,]", 3),
            ("{\"a\":1,}", 7),
            ("\"a\nb\"", 2),
            ("[1] x", 4),
            ("01", 1),
            ("{\"a\":1}}", 7),
        ] {
            let e = skip(bad).expect_err(bad);
            assert_eq!(e.offset, at, "{bad}: {e}");
        }
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        assert_eq!(skip(&deep).unwrap(), 0..400_000);
    }

    #[test]
    fn objects_report_members_and_decoded_keys() {
        let text = r#"{ "a" : 1, "m\u0065ta": {"x": [1]}, "a": "last" }"#;
        let mut s = Scanner::at(text.as_bytes(), 0);
        let (members, span) = s.object().unwrap();
        assert_eq!(span, 0..text.len());
        assert_eq!(members.len(), 3);
        assert_eq!(members[1].key, "meta");
        assert_eq!(&text[members[1].value_span.clone()], r#"{"x": [1]}"#);
        assert_eq!(
            &text[last_member(&members, "a").unwrap().value_span.clone()],
            "\"last\""
        );
    }

    #[test]
    fn strings_decode_escapes_and_surrogates() {
        let mut s = Scanner::at(br#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800x""#, 0);
        assert_eq!(s.string().unwrap(), "a\"\\/\u{8}\u{c}\n\r\té😀\u{FFFD}x");
    }
}
