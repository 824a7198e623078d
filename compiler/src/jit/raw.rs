//! Raw JSON: finding values in a payload and writing them out canonically, without building
//! [`Value`]s.
//!
//! The canonical form is exactly what [`crate::value::write_json`] writes for the parsed
//! value: compact, object keys sorted (the last of duplicate keys wins), strings and numbers
//! as the serialiser writes them. A plain string (no escapes, no U+2028/2029) or a plain
//! integer is copied byte for byte; anything else (escapes, floats, big integers) is parsed
//! and re-written by the serialiser itself, so the output cannot differ from the
//! interpreter's.
//!
//! Every function here expects a payload that has already been validated as JSON by the
//! parser the interpreter uses; they return `None` only for documents nested deeper than
//! [`MAX_DEPTH`], which callers hand back to the general path.

use std::borrow::Cow;

use super::swar;
use crate::value::{write_json, write_json_str, Value};

/// Nesting beyond which raw processing gives up (the general path handles the document).
pub(crate) const MAX_DEPTH: usize = 128;

fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

/// The index after the string starting at `i` (a `"`).
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while let Some(off) = swar::find2(&b[i.min(b.len())..], b'"', b'\\') {
        if b[i + off] == b'"' {
            return i + off + 1;
        }
        i += off + 2;
    }
    b.len()
}

/// The index after the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => string_end(b, i),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            j
        }
        Some(b't') | Some(b'n') => i + 4,
        Some(b'f') => i + 5,
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
            {
                j += 1;
            }
            j
        }
    }
}

/// A string literal's (`"..."`) content as text: borrowed when it has no escapes.
fn decode_str(lit: &[u8]) -> Cow<'_, str> {
    let inner = &lit[1..lit.len().saturating_sub(1).max(1)];
    if !inner.contains(&b'\\') {
        if let Ok(s) = std::str::from_utf8(inner) {
            return Cow::Borrowed(s);
        }
    }
    Cow::Owned(serde_json::from_slice::<String>(lit).unwrap_or_default())
}

/// Calls `f` with each member of the object starting at `i`, in document order: the span of
/// the key's literal (with quotes) and the value's span.
fn each_member(b: &[u8], i: usize, mut f: impl FnMut(Span, Span)) {
    let mut i = ws(b, i + 1);
    while i < b.len() && b[i] != b'}' {
        let kend = string_end(b, i);
        let v = ws(b, ws(b, kend) + 1);
        let vend = value_end(b, v);
        f((i, kend), (v, vend));
        i = ws(b, vend);
        if i < b.len() && b[i] == b',' {
            i = ws(b, i + 1);
        }
    }
}

/// The span of the value at `path` below the value starting at `b[i]`, in a payload already
/// validated: the last of duplicate keys wins, and an array is indexed only by a segment
/// that is an index's decimal text (as the scanner's path tries match). `None` when the
/// path leads nowhere.
pub(crate) fn find(b: &[u8], i: usize, path: &[String]) -> Option<Span> {
    let mut at = (i, value_end(b, i));
    for seg in path {
        at = match b.get(at.0)? {
            b'{' => {
                let mut found = None;
                each_member(b, at.0, |(ks, ke), v| {
                    let lit = &b[ks..ke];
                    let text = &lit[1..lit.len() - 1];
                    let same = if text.contains(&b'\\') {
                        decode_str(lit) == seg.as_str()
                    } else {
                        text == seg.as_bytes()
                    };
                    if same {
                        found = Some(v);
                    }
                });
                found?
            }
            b'[' => {
                let n: usize = seg.parse().ok()?;
                if n.to_string() != *seg {
                    return None;
                }
                let mut j = ws(b, at.0 + 1);
                let mut k = 0;
                loop {
                    if j >= b.len() || b[j] == b']' {
                        return None;
                    }
                    let e = value_end(b, j);
                    if k == n {
                        break (j, e);
                    }
                    k += 1;
                    j = ws(b, e);
                    if j < b.len() && b[j] == b',' {
                        j = ws(b, j + 1);
                    }
                }
            }
            _ => return None,
        };
    }
    Some(at)
}

/// A member of a raw object: the decoded key, the key's literal (with quotes) and the
/// value's span.
type RawMember<'b> = (Cow<'b, str>, &'b [u8], usize, usize);

/// The members of the object starting at `i`, in document order.
fn members(b: &[u8], i: usize) -> Vec<RawMember<'_>> {
    let mut out = Vec::with_capacity(8);
    each_member(b, i, |(ks, ke), (s, e)| {
        let k = &b[ks..ke];
        out.push((decode_str(k), k, s, e))
    });
    out
}

/// A span of bytes: start and end.
type Span = (usize, usize);

/// Orders keys as a map of strings does (by bytes), deciding on the first byte inline: most
/// keys differ there, and it spares a `memcmp` call.
#[inline]
pub(crate) fn key_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match (a.first(), b.first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

/// Sorts members by key, keeping the last of duplicates (as parsing into a map does).
fn sorted_unique(mut m: Vec<RawMember<'_>>) -> Vec<RawMember<'_>> {
    // Stable: among equal keys document order remains, and the last one is kept.
    m.sort_by(|a, b| key_cmp(a.0.as_bytes(), b.0.as_bytes()));
    m.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            std::mem::swap(later, earlier);
        }
        same
    });
    m
}

/// True when the string literal needs no re-encoding: no escapes, no U+2028/2029.
fn plain_string(lit: &[u8]) -> bool {
    let inner = &lit[1..lit.len().saturating_sub(1).max(1)];
    // One pass for both bytes that may need re-encoding.
    if swar::find2(inner, b'\\', 0xE2).is_none() {
        return true;
    }
    !inner.contains(&b'\\')
        && !inner
            .windows(3)
            .any(|w| w == [0xE2, 0x80, 0xA8] || w == [0xE2, 0x80, 0xA9])
}

/// True when the number literal is an integer the serialiser writes the same way.
fn plain_int(lit: &[u8]) -> bool {
    let digits = lit.strip_prefix(b"-").unwrap_or(lit);
    !digits.is_empty()
        && digits.len() <= 18
        && digits.iter().all(u8::is_ascii_digit)
        && !(digits[0] == b'0' && (digits.len() > 1 || lit[0] == b'-'))
}

/// Writes the value spanning `b[i..end]` canonically.
pub(crate) fn write_canonical(b: &[u8], i: usize, end: usize, out: &mut Vec<u8>) -> Option<()> {
    canonical(b, i, end, out, 0, &mut Vec::new())
}

/// Writes the value spanning `b[i..end]` canonically. `stack` holds the members of the
/// objects being written (key literal and value spans), each object's above its parent's.
fn canonical(
    b: &[u8],
    i: usize,
    end: usize,
    out: &mut Vec<u8>,
    depth: usize,
    stack: &mut Vec<(Span, Span)>,
) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    match b.get(i)? {
        b'{' => {
            let base = stack.len();
            let mut escaped = false;
            each_member(b, i, |k, v| {
                escaped |= b[k.0..k.1].contains(&b'\\');
                stack.push((k, v));
            });
            out.push(b'{');
            if escaped {
                // Keys with escapes sort by their decoded text: decode them all.
                stack.truncate(base);
                for (n, (k, lit, s, e)) in sorted_unique(members(b, i)).into_iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    if plain_string(lit) {
                        out.extend_from_slice(lit);
                    } else {
                        write_str(&k, out);
                    }
                    out.push(b':');
                    canonical(b, s, e, out, depth + 1, stack)?;
                }
            } else {
                // Unescaped keys are their text: sort the spans by their bytes (stable, so
                // the last of duplicate keys is the last of its run, and wins).
                let text = |k: Span| &b[k.0 + 1..k.1 - 1];
                stack[base..].sort_by(|x, y| key_cmp(text(x.0), text(y.0)));
                let mut first = true;
                for n in base..stack.len() {
                    let (k, (s, e)) = stack[n];
                    if stack.get(n + 1).is_some_and(|next| text(next.0) == text(k)) {
                        continue;
                    }
                    if !std::mem::take(&mut first) {
                        out.push(b',');
                    }
                    let lit = &b[k.0..k.1];
                    if plain_string(lit) {
                        out.extend_from_slice(lit);
                    } else {
                        write_str(std::str::from_utf8(text(k)).ok()?, out);
                    }
                    out.push(b':');
                    canonical(b, s, e, out, depth + 1, stack)?;
                }
                stack.truncate(base);
            }
            out.push(b'}');
        }
        b'[' => {
            out.push(b'[');
            let mut j = ws(b, i + 1);
            let mut n = 0;
            while j < b.len() && b[j] != b']' {
                if n > 0 {
                    out.push(b',');
                }
                let e = value_end(b, j);
                canonical(b, j, e, out, depth + 1, stack)?;
                n += 1;
                j = ws(b, e);
                if j < b.len() && b[j] == b',' {
                    j = ws(b, j + 1);
                }
            }
            out.push(b']');
        }
        b'"' => {
            let lit = &b[i..end];
            if plain_string(lit) {
                out.extend_from_slice(lit);
            } else {
                write_str(&decode_str(lit), out);
            }
        }
        b't' | b'f' | b'n' => out.extend_from_slice(&b[i..end]),
        _ => {
            let lit = &b[i..end];
            if plain_int(lit) {
                out.extend_from_slice(lit);
            } else {
                let v = Value::from_json_slice(lit).ok()?;
                let mut s = String::new();
                write_json(&v, &mut s);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    Some(())
}

/// Writes the object spanning `b[start..end]` canonically from its members as the scanner
/// recorded them (keys without escapes): sorted by key, the last of duplicates kept,
/// canonical values copied.
pub(crate) fn write_object(
    b: &[u8],
    start: usize,
    end: usize,
    members: &[super::scan::SubMember],
    out: &mut Vec<u8>,
) -> Option<()> {
    const MAX: usize = 16;
    if members.len() > MAX {
        return write_canonical(b, start, end, out);
    }
    let text = |m: &super::scan::SubMember| &b[m.key.0..m.key.1];
    // Insertion sort of indices (stable: the last of equal keys stays last).
    let mut order = [0u8; MAX];
    for n in 0..members.len() {
        let mut at = n;
        while at > 0 && key_cmp(text(&members[order[at - 1] as usize]), text(&members[n])).is_gt() {
            order[at] = order[at - 1];
            at -= 1;
        }
        order[at] = n as u8;
    }
    let order = &order[..members.len()];
    out.push(b'{');
    let mut first = true;
    for (n, &i) in order.iter().enumerate() {
        let m = &members[i as usize];
        if order
            .get(n + 1)
            .is_some_and(|&next| text(&members[next as usize]) == text(m))
        {
            continue;
        }
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        if m.key_plain {
            out.extend_from_slice(&b[m.key.0 - 1..m.key.1 + 1]);
        } else {
            write_str(std::str::from_utf8(text(m)).ok()?, out);
        }
        out.push(b':');
        if m.canonical {
            out.extend_from_slice(&b[m.start..m.end]);
        } else {
            write_canonical(b, m.start, m.end, out)?;
        }
    }
    out.push(b'}');
    Some(())
}

/// Writes a string as the serialiser does.
pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    if !needs_escaping(s.as_bytes()) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let mut t = String::new();
        write_json_str(s, &mut t);
        out.extend_from_slice(t.as_bytes());
    }
}

/// True when a string's text needs the serialiser's encoding, not just quotes: it has a
/// control byte, a `"`, a `\\` or a 0xE2 byte (which starts U+2028 and U+2029). Eight bytes
/// at a time.
fn needs_escaping(b: &[u8]) -> bool {
    let mut i = 0;
    while let Some(w) = swar::word(b, i) {
        if (swar::below(w, 0x20)
            | swar::equal(w, b'"')
            | swar::equal(w, b'\\')
            | swar::equal(w, 0xE2))
            != 0
        {
            return true;
        }
        i += 8;
    }
    b[i..]
        .iter()
        .any(|&c| c < 0x20 || c == b'"' || c == b'\\' || c == 0xE2)
}

/// Writes a value as the serialiser does.
pub(crate) fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => write_str(s, out),
        Value::Int(i) => {
            // Decimal digits without going through `fmt`.
            let mut buf = [0u8; 20];
            let mut n = i.unsigned_abs();
            let mut at = buf.len();
            loop {
                at -= 1;
                buf[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            if *i < 0 {
                out.push(b'-');
            }
            out.extend_from_slice(&buf[at..]);
        }
        other => {
            let mut s = String::new();
            write_json(other, &mut s);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        let b = s.as_bytes();
        let i = ws(b, 0);
        let mut out = Vec::new();
        write_canonical(b, i, value_end(b, i), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_escaping_test_agrees_with_a_byte_loop_on_every_byte_at_every_position() {
        for c in 0..=255u8 {
            for len in 1..20 {
                for at in 0..len {
                    let mut b = vec![b'a'; len];
                    b[at] = c;
                    let naive = b
                        .iter()
                        .any(|&x| x < 0x20 || x == b'"' || x == b'\\' || x == 0xE2);
                    assert_eq!(needs_escaping(&b), naive, "{:?}", b);
                }
            }
        }
    }

    #[test]
    fn integers_are_written_as_the_serialiser_writes_them() {
        for i in [0, 7, -7, 10, -100, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_value(&Value::Int(i), &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                Value::Int(i).to_json_string()
            );
        }
    }

    #[test]
    fn canonical_output_is_the_serialisers() {
        for doc in [
            r#"{"b":1,"a":{"z":[1,2.50,"x\u00e9"],"y":null},"a":{"k":true}}"#,
            r#" [ 1 , -0 , 1e3, 12345678901234567890, "\u2028", "<&>" ] "#,
            r#"{"é":"\"q\"","e":"line\nbreak","":{}}"#,
            r#"{"b":{"y":1,"x":{"d":[{"q":1,"p":2}],"c":3},"y":2},"a":[{"z":1,"a\u0062":2,"ab":3}]}"#,
            r#"{"k":1,"k":{"b":1,"a":2},"j":"\u2028","ĵ":0}"#,
            "{\"\u{2028}k\":{\"z\":\"\u{2029}\",\"y\":[]},\"a\":2}",
            r#""just a string""#,
            "-12",
        ] {
            let v = Value::from_json_slice(doc.as_bytes()).unwrap();
            assert_eq!(canon(doc), v.to_json_string(), "{}", doc);
        }
    }
}
