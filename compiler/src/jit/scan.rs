//! A one-pass validating scanner for JSON payloads, the splice plan's parser.
//!
//! It checks the whole document and, for a top-level object, records each member's key and
//! value span and whether those bytes are already canonical (what the serialiser would write
//! for the parsed value: compact, keys strictly increasing, plain strings and integers), so an
//! untouched member is copied with one `memcpy`.
//!
//! It is deliberately conservative: it accepts a subset of what the interpreter's parser
//! (serde_json) accepts and returns `None` for anything it is not sure about (lone
//! surrogates, numbers out of range, very deep nesting, invalid UTF-8), sending the message
//! down the general path, which gives the reference result or error. It never accepts a
//! document serde_json rejects.

use std::borrow::Cow;

use super::swar;

/// Bytes a string may hold as they are: printable ASCII other than `"` and `\\`.
static ORDINARY: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0x20;
    while c < 0x80 {
        t[c] = c != b'"' as usize && c != b'\\' as usize;
        c += 1;
    }
    t
};

/// The bytes of `w` that are not [`ORDINARY`] (a `"`, a `\\`, a control byte below 0x20
/// or a non-ASCII byte), as a mask whose lowest set bit is in the first of them (bits above
/// it may be spurious); 0 when every byte is ordinary.
#[inline]
fn special_mask(w: u64) -> u64 {
    swar::equal(w, b'"') | swar::equal(w, b'\\') | swar::below(w, 0x20) | swar::non_ascii(w)
}

/// Deepest nesting the scanner handles (serde_json's own limit is 128).
const MAX_DEPTH: usize = 100;

/// What scanning a string found.
#[derive(Clone, Copy)]
struct ScannedStr {
    /// The literal has escapes.
    escaped: bool,
    /// The literal is what the serialiser writes for its text (no escapes, no U+2028/9).
    plain: bool,
}

/// A member key's text.
#[derive(Debug)]
pub(crate) enum KeyText {
    /// The span inside the quotes (the key has no escapes).
    Span(usize, usize),
    /// The decoded text of a key with escapes.
    Decoded(String),
}

/// A member of the top-level object.
#[derive(Debug)]
pub(crate) struct Member {
    /// The key's text.
    pub(crate) key: KeyText,
    /// The key's first eight bytes ([`key_prefix`]): most keys are ordered by it alone.
    pub(crate) prefix: u64,
    /// The key's literal is what the serialiser writes for it (no escapes, no U+2028/9).
    pub(crate) key_plain: bool,
    /// The value's span.
    pub(crate) start: usize,
    /// The end of the value's span.
    pub(crate) end: usize,
    /// The value's bytes are already canonical.
    pub(crate) canonical: bool,
    /// When the value is an object none of whose keys has escapes: its members, as a range
    /// of [`ObjectDoc::subs`] (in document order).
    pub(crate) subs: Option<(u32, u32)>,
}

impl Member {
    /// The key's text, with `raw` the scanned payload.
    pub(crate) fn key<'a>(&'a self, raw: &'a [u8]) -> &'a [u8] {
        match &self.key {
            KeyText::Span(s, e) => &raw[*s..*e],
            KeyText::Decoded(k) => k.as_bytes(),
        }
    }
}

/// A key's first eight bytes, big-endian, zero-padded. When two keys' prefixes differ they
/// order the keys as their bytes do (a shorter key's padding sorts before any byte).
#[inline]
pub(crate) fn key_prefix(k: &[u8]) -> u64 {
    match k.first_chunk::<8>() {
        Some(c) => u64::from_be_bytes(*c),
        None => k
            .iter()
            .enumerate()
            .fold(0, |p, (i, &c)| p | (c as u64) << (56 - 8 * i)),
    }
}

/// Orders two members by key, as a map of strings does.
#[inline]
pub(crate) fn cmp_members(raw: &[u8], a: &Member, b: &Member) -> std::cmp::Ordering {
    a.prefix
        .cmp(&b.prefix)
        .then_with(|| a.key(raw).cmp(b.key(raw)))
}

impl ObjectDoc {
    /// Writes member `m`'s value canonically: copied when it is canonical, from its recorded
    /// members when it is an object that has them, else rewritten from its bytes.
    pub(crate) fn write_member(&self, raw: &[u8], m: &Member, out: &mut Vec<u8>) -> Option<()> {
        match m.subs {
            _ if m.canonical => {
                out.extend_from_slice(&raw[m.start..m.end]);
                Some(())
            }
            Some((s, e)) => super::raw::write_object(
                raw,
                m.start,
                m.end,
                &self.subs[s as usize..e as usize],
                out,
            ),
            None => super::raw::write_canonical(raw, m.start, m.end, out),
        }
    }
}

/// A member of an object that is a top-level member's value (its keys have no escapes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubMember {
    /// The key's span inside the quotes.
    pub(crate) key: (usize, usize),
    /// The key's literal is what the serialiser writes (no U+2028/9).
    pub(crate) key_plain: bool,
    /// The value's span.
    pub(crate) start: usize,
    /// The end of the value's span.
    pub(crate) end: usize,
    /// The value's bytes are already canonical.
    pub(crate) canonical: bool,
}

/// A scanned document whose top level is an object.
#[derive(Debug)]
pub(crate) struct ObjectDoc {
    /// The members in document order.
    pub(crate) members: Vec<Member>,
    /// The members of the members' objects (see [`Member::subs`]).
    pub(crate) subs: Vec<SubMember>,
    /// Keys are strictly increasing (sorted, no duplicates).
    pub(crate) sorted: bool,
}

struct Scanner<'b, 't> {
    b: &'b [u8],
    i: usize,
    /// Values to record: each found path's span and whether it is canonical, by index.
    spans: Vec<Option<(usize, usize, bool)>>,
    /// Record the members of objects at depth 1 into `subs` (the top level is depth 0).
    record: bool,
    subs: Vec<SubMember>,
    /// The range of `subs` the last depth-1 object filled, if it could.
    last_subs: Option<(u32, u32)>,
    _trie: std::marker::PhantomData<&'t PathSpans>,
}

/// Paths whose values a scan records: a trie; a node with `leaf` is recorded whole.
#[derive(Debug, Default)]
pub(crate) struct PathSpans {
    leaf: Option<usize>,
    children: Vec<(String, PathSpans)>,
    /// Children whose key is an array index (in its decimal text, as the partial parser
    /// matches indices), with that index.
    indices: Vec<(usize, usize)>,
}

impl PathSpans {
    /// A trie of `paths` (none may be a prefix of another); leaf `i` is `paths[i]`.
    pub(crate) fn new(paths: &[Vec<String>]) -> PathSpans {
        let mut trie = PathSpans::default();
        for (i, p) in paths.iter().enumerate() {
            let mut node = &mut trie;
            for seg in p {
                let at = match node.children.iter().position(|(k, _)| k == seg) {
                    Some(at) => at,
                    None => {
                        node.children.push((seg.clone(), PathSpans::default()));
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[at].1;
            }
            node.leaf = Some(i);
        }
        trie.index_children();
        trie
    }

    fn index_children(&mut self) {
        self.indices = self
            .children
            .iter()
            .enumerate()
            .filter_map(|(at, (k, _))| {
                let n: usize = k.parse().ok()?;
                (n.to_string() == *k).then_some((n, at))
            })
            .collect();
        self.children
            .iter_mut()
            .for_each(|(_, t)| t.index_children());
    }

    fn child(&self, key: &str) -> Option<&PathSpans> {
        self.children.iter().find(|(k, _)| k == key).map(|(_, t)| t)
    }

    fn index(&self, i: usize) -> Option<&PathSpans> {
        let &(_, at) = self.indices.iter().find(|(n, _)| *n == i)?;
        Some(&self.children[at].1)
    }
}

/// Scans `b` and records the values at the paths of `trie` (`count` of them): their spans
/// and whether they are canonical; `None` when the scanner does not accept the document.
/// The last of duplicate keys wins, as in parsing.
pub(crate) fn find_paths(
    b: &[u8],
    trie: &PathSpans,
    count: usize,
) -> Option<Vec<Option<(usize, usize, bool)>>> {
    let mut s = Scanner {
        b,
        i: 0,
        spans: vec![None; count],
        record: false,
        subs: Vec::new(),
        last_subs: None,
        _trie: std::marker::PhantomData,
    };
    s.ws();
    s.value(1, Some(trie))?;
    s.ws();
    (s.i == b.len()).then_some(s.spans)
}

thread_local! {
    /// Member vectors of documents that are done with, kept for the next scans on this
    /// thread: a document's vectors are larger than the allocator's per-thread cache takes,
    /// and allocating them fresh for every message was a large share of a raw plan's cost.
    static SPARE: std::cell::RefCell<Vec<(Vec<Member>, Vec<SubMember>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Spare vectors kept per thread, at most.
const SPARE_KEPT: usize = 8;

/// Gives a scanned document's vectors back for later scans on this thread.
pub(crate) fn recycle(doc: ObjectDoc) {
    let (mut members, mut subs) = (doc.members, doc.subs);
    if members.capacity() > 1024 || subs.capacity() > 1024 {
        return;
    }
    members.clear();
    subs.clear();
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARE_KEPT {
            spare.push((members, subs));
        }
    });
}

/// Scans `b`; `Some` when it is valid JSON whose top level is an object.
pub(crate) fn scan_object(b: &[u8]) -> Option<ObjectDoc> {
    let (mut members, subs) = SPARE
        .with(|spare| spare.borrow_mut().pop())
        .unwrap_or_else(|| (Vec::with_capacity(16), Vec::with_capacity(16)));
    let mut s = Scanner {
        b,
        i: 0,
        spans: Vec::new(),
        record: true,
        subs,
        last_subs: None,
        _trie: std::marker::PhantomData,
    };
    s.ws();
    if s.peek()? != b'{' {
        return None;
    }
    s.i += 1;
    let mut sorted = true;
    s.ws();
    if s.peek()? == b'}' {
        s.i += 1;
    } else {
        loop {
            s.ws();
            if s.peek()? != b'"' {
                return None;
            }
            let key_start = s.i + 1;
            let scanned = s.string()?;
            let key_plain = scanned.plain;
            let key = if scanned.escaped {
                KeyText::Decoded(s.text(key_start, s.i - 1, true)?.into_owned())
            } else {
                KeyText::Span(key_start, s.i - 1)
            };
            s.ws();
            if s.peek()? != b':' {
                return None;
            }
            s.i += 1;
            s.ws();
            let start = s.i;
            s.last_subs = None;
            let canonical = if s.peek() == Some(b'"') {
                s.string()?.plain
            } else {
                s.value(1, None)?
            };
            let m = Member {
                prefix: key_prefix(match &key {
                    KeyText::Span(s, e) => &b[*s..*e],
                    KeyText::Decoded(k) => k.as_bytes(),
                }),
                key,
                key_plain,
                start,
                end: s.i,
                canonical,
                subs: s.last_subs.take(),
            };
            if let Some(prev) = members.last() {
                sorted &= cmp_members(b, prev, &m).is_lt();
            }
            members.push(m);
            s.ws();
            match s.peek()? {
                b',' => s.i += 1,
                b'}' => {
                    s.i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    s.ws();
    (s.i == b.len()).then_some(ObjectDoc {
        members,
        subs: s.subs,
        sorted,
    })
}

impl<'b, 't> Scanner<'b, 't> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    /// Skips whitespace; true when there was none (canonical bytes have none).
    fn no_ws(&mut self) -> bool {
        let before = self.i;
        self.ws();
        self.i == before
    }

    /// Scans a value; returns whether its bytes are canonical.
    fn value(&mut self, depth: usize, want: Option<&'t PathSpans>) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        if let Some(leaf) = want.and_then(|w| w.leaf) {
            let start = self.i;
            let canonical = self.value(depth, None)?;
            self.spans[leaf] = Some((start, self.i, canonical));
            return Some(canonical);
        }
        match self.peek()? {
            b'"' => self.string().map(|s| s.plain),
            b'{' => self.object(depth, want),
            b'[' => self.array(depth, want),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<bool> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Some(true)
        } else {
            None
        }
    }

    fn object(&mut self, depth: usize, want: Option<&'t PathSpans>) -> Option<bool> {
        self.i += 1;
        let mut canonical = true;
        // The previous key's text, while every key so far is plain.
        let mut prev: Option<(usize, usize)> = None;
        let mut after_open = true;
        // A top-level member's object: its members are recorded (while no key has escapes).
        let base = self.subs.len();
        let mut recording = self.record && depth == 1;
        loop {
            canonical &= self.no_ws();
            match self.peek()? {
                b'}' if after_open => {
                    self.i += 1;
                    self.end_subs(recording, base);
                    return Some(canonical);
                }
                b'"' => {}
                _ => return None,
            }
            after_open = false;
            let key_start = self.i + 1;
            let key = self.string()?;
            let key_end = self.i - 1;
            recording &= !key.escaped;
            let child = match want {
                Some(w) => w.child(&self.text(key_start, key_end, key.escaped)?),
                None => None,
            };
            // Plain keys are their own text: compare the bytes.
            let b = self.b;
            canonical &= key.plain
                && prev.is_none_or(|(ps, pe)| {
                    super::raw::key_cmp(&b[ps..pe], &b[key_start..key_end]).is_lt()
                });
            prev = Some((key_start, key_end));
            canonical &= self.no_ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            canonical &= self.no_ws();
            let start = self.i;
            // Strings are the most common members: straight to the string scanner unless
            // the value is to be recorded.
            let value_canonical =
                if self.peek() == Some(b'"') && child.is_none_or(|c| c.leaf.is_none()) {
                    self.string()?.plain
                } else {
                    self.value(depth + 1, child)?
                };
            canonical &= value_canonical;
            if recording {
                self.subs.push(SubMember {
                    key: (key_start, key_end),
                    key_plain: key.plain,
                    start,
                    end: self.i,
                    canonical: value_canonical,
                });
            }
            canonical &= self.no_ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    self.end_subs(recording, base);
                    return Some(canonical);
                }
                _ => return None,
            }
        }
    }

    /// Closes the members a depth-1 object recorded from `base` on (dropped when it could
    /// not record them all).
    fn end_subs(&mut self, recording: bool, base: usize) {
        if recording {
            self.last_subs = Some((base as u32, self.subs.len() as u32));
        } else {
            self.subs.truncate(base);
        }
    }

    fn array(&mut self, depth: usize, want: Option<&'t PathSpans>) -> Option<bool> {
        let mut index = 0usize;
        self.i += 1;
        let mut canonical = true;
        canonical &= self.no_ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(canonical);
        }
        loop {
            canonical &= self.no_ws();
            canonical &= self.value(depth + 1, want.and_then(|w| w.index(index)))?;
            index += 1;
            canonical &= self.no_ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(canonical);
                }
                _ => return None,
            }
        }
    }

    /// The text of the string whose content spans `b[start..end]` (its literal without the
    /// quotes), which [`Scanner::string`] validated.
    fn text(&self, start: usize, end: usize, escaped: bool) -> Option<Cow<'b, str>> {
        let b = self.b;
        if escaped {
            return serde_json::from_slice(&b[start - 1..end + 1])
                .ok()
                .map(Cow::Owned);
        }
        // SAFETY: `string` checked that the content is UTF-8.
        Some(Cow::Borrowed(unsafe {
            std::str::from_utf8_unchecked(&b[start..end])
        }))
    }

    /// Scans (and validates) a string, leaving `i` after its closing quote.
    fn string(&mut self) -> Option<ScannedStr> {
        let b = self.b;
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        let mut ascii = true;
        loop {
            // Ordinary printable ASCII is the common case: eight bytes at a time while no
            // byte of the word is special, then straight to the first special byte (one
            // table lookup per byte only in the last few bytes of the payload).
            loop {
                match swar::word(b, j) {
                    Some(w) => {
                        let m = special_mask(w);
                        if m != 0 {
                            j += (m.trailing_zeros() / 8) as usize;
                            break;
                        }
                        j += 8;
                    }
                    None => {
                        while j < b.len() && ORDINARY[b[j] as usize] {
                            j += 1;
                        }
                        break;
                    }
                }
            }
            match *b.get(j)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    // Validate the escape; `\u` escapes of surrogates go to the general path.
                    match *b.get(j + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                        b'u' => {
                            let hex = b.get(j + 2..j + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            let code =
                                u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                            if (0xD800..0xE000).contains(&code) {
                                return None;
                            }
                            j += 6;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => {
                    ascii = false;
                    j += 1;
                }
            }
        }
        let raw = &b[start..j];
        self.i = j + 1;
        if escaped {
            // Escapes were validated above, except that the text must be UTF-8 too.
            if !ascii {
                std::str::from_utf8(raw).ok()?;
            }
            return Some(ScannedStr {
                escaped: true,
                plain: false,
            });
        }
        if ascii {
            return Some(ScannedStr {
                escaped: false,
                plain: true,
            });
        }
        let text = std::str::from_utf8(raw).ok()?;
        Some(ScannedStr {
            escaped: false,
            plain: !text.contains(['\u{2028}', '\u{2029}']),
        })
    }

    fn number(&mut self) -> Option<bool> {
        let start = self.i;
        let b = self.b;
        let mut j = self.i;
        if b.get(j) == Some(&b'-') {
            j += 1;
        }
        let int_start = j;
        match b.get(j)? {
            b'0' => j += 1,
            b'1'..=b'9' => {
                while b.get(j).is_some_and(u8::is_ascii_digit) {
                    j += 1;
                }
            }
            _ => return None,
        }
        let int_digits = j - int_start;
        let mut simple = true;
        if b.get(j) == Some(&b'.') {
            simple = false;
            j += 1;
            let d = j;
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            if j == d {
                return None;
            }
        }
        if let Some(b'e' | b'E') = b.get(j) {
            simple = false;
            j += 1;
            if let Some(b'+' | b'-') = b.get(j) {
                j += 1;
            }
            let d = j;
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            if j == d {
                return None;
            }
        }
        self.i = j;
        let lit = &b[start..j];
        let negative_zero = lit.starts_with(b"-0");
        if simple && int_digits <= 18 && !negative_zero {
            return Some(true);
        }
        // Floats, big or negative-zero numbers: let the parser decide (it refuses numbers out
        // of range); the serialiser rewrites them.
        crate::value::Value::from_json_slice(lit).ok()?;
        Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_mask_finds_the_first_special_byte_whatever_follows() {
        // Byte `c` at `at`, every later byte `d`: the mask's lowest byte is the first byte
        // the table calls special (borrows may only flag bytes above it).
        for c in 0..=255u8 {
            for d in 0..=255u8 {
                for at in 0..8 {
                    let mut w = [b'a'; 8];
                    w[at] = c;
                    w[at + 1..].fill(d);
                    let expected = w.iter().position(|&x| !ORDINARY[x as usize]);
                    let m = special_mask(u64::from_le_bytes(w));
                    let found = (m != 0).then(|| (m.trailing_zeros() / 8) as usize);
                    assert_eq!(found, expected, "{:?}", w);
                }
            }
        }
    }

    #[test]
    fn accepts_only_what_the_parser_accepts() {
        for doc in [
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":1e999}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":[1,]}"#,
            r#"{"a":tru}"#,
            r#"{"a":1} x"#,
            r#"{"a" 1}"#,
            r#"{"a":-}"#,
            r#"{"a":1.}"#,
        ] {
            assert!(scan_object(doc.as_bytes()).is_none(), "{}", doc);
        }
    }

    #[test]
    fn find_paths_follows_paths_like_get_path() {
        let doc = br#"{"user":{"id":"u1","id":"u2"},"arr":[10,{"x":[5,6]}],"s":"\n"}"#;
        let paths: Vec<Vec<String>> = [
            &["user", "id"][..],
            &["arr", "1", "x", "1"],
            &["arr", "2"],
            &["s"],
        ]
        .iter()
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .collect();
        let spans = find_paths(doc, &PathSpans::new(&paths), paths.len()).unwrap();
        let text: Vec<Option<(String, bool)>> = spans
            .iter()
            .map(|s| s.map(|(a, b, c)| (String::from_utf8_lossy(&doc[a..b]).into_owned(), c)))
            .collect();
        assert_eq!(
            text,
            vec![
                Some(("\"u2\"".into(), true)),
                Some(("6".into(), true)),
                None,
                Some(("\"\\n\"".into(), false))
            ]
        );
        assert!(find_paths(b"{\"a\":1,}", &PathSpans::new(&paths), paths.len()).is_none());
    }

    #[test]
    fn marks_canonical_members() {
        let d = scan_object(
            br#" {"b" : {"x":1,"y":[1,"s"]}, "a":{"y":1,"x":2}, "c":1.5, "d":"\n", "e":"ok"} "#,
        )
        .unwrap();
        let raw =
            br#" {"b" : {"x":1,"y":[1,"s"]}, "a":{"y":1,"x":2}, "c":1.5, "d":"\n", "e":"ok"} "#;
        let flags: Vec<(String, bool)> = d
            .members
            .iter()
            .map(|m| {
                (
                    String::from_utf8_lossy(m.key(raw)).into_owned(),
                    m.canonical,
                )
            })
            .collect();
        assert_eq!(
            flags,
            vec![
                ("b".into(), true),
                ("a".into(), false),
                ("c".into(), false),
                ("d".into(), false),
                ("e".into(), true)
            ]
        );
        assert!(!d.sorted);
    }
}
