//! Secret scrubbing: what replaces credentials wherever a config, an error or a log line could
//! show them (`GET /streams/{id}`, errors, logs).
//!
//! Scrubbed: fields a spec marks secret; header-like map entries whose names carry
//! credentials (`Authorization`, `Cookie`, any name with `key`, `token`, `secret`,
//! `password`, `auth`, `session`, `signature`, `credential`); the password of a URL's
//! user info; URL query parameters with such names.

/// The text that replaces a secret.
pub const SCRUBBED: &str = "!!!SECRET_SCRUBBED!!!";

/// Name fragments (lower case) that mark a header, map key or query parameter as a credential.
const CREDENTIAL_WORDS: [&str; 11] = [
    "authorization",
    "cookie",
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "auth",
    "session",
    "signature",
    "credential",
];

/// Whether a header, map key or query parameter named `name` holds a credential.
pub fn is_credential_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    CREDENTIAL_WORDS.iter().any(|w| lower.contains(w))
        || matches!(lower.as_str(), "sig" | "pwd" | "pass" | "code")
}

/// A secret value is scrubbed unless it is empty or only an unresolved `${VAR}` reference.
pub fn scrub_secret(s: &str) -> String {
    let env_ref = s.starts_with("${")
        && s.ends_with('}')
        && !s.starts_with("${!")
        && s[2..].find('}') == Some(s.len() - 3);
    if s.is_empty() || env_ref {
        s.to_string()
    } else {
        SCRUBBED.to_string()
    }
}

/// A URL with its user-info password and credential-named query values scrubbed; text that is
/// not a URL is returned unchanged.
pub fn scrub_url(s: &str) -> String {
    let Some(scheme_end) = s.find("://") else {
        return scrub_dsn(s);
    };
    let rest = &s[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..scheme_end + 3]);
    match authority.rfind('@') {
        Some(at) if authority[..at].contains(':') => {
            let user = authority[..at].split(':').next().unwrap_or("");
            out.push_str(user);
            out.push(':');
            out.push_str(SCRUBBED);
            out.push_str(&authority[at..]);
        }
        _ => out.push_str(authority),
    }
    let tail = &rest[authority_end..];
    let (before_fragment, fragment) = match tail.find('#') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    match before_fragment.split_once('?') {
        None => out.push_str(before_fragment),
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, v)) if !v.is_empty() && is_credential_name(k) => {
                        format!("{}={}", k, SCRUBBED)
                    }
                    _ => p.to_string(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
    }
    out.push_str(fragment);
    out
}

/// A database DSN that is not a URL, password scrubbed: Go's MySQL form
/// (`user:pass@tcp(host:3306)/db`) and libpq's key/value form (`password=...`).
fn scrub_dsn(s: &str) -> String {
    if let Some(at) = s
        .find("@tcp(")
        .or_else(|| s.find("@unix("))
        .or_else(|| s.find("@/"))
    {
        if let Some(colon) = s[..at].find(':') {
            return format!("{}:{}{}", &s[..colon], SCRUBBED, &s[at..]);
        }
    }
    if s.contains('=') && s.contains(' ') || s.starts_with("password=") {
        return s
            .split(' ')
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !v.is_empty() && is_credential_name(k) => {
                    format!("{}={}", k, SCRUBBED)
                }
                _ => kv.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    s.to_string()
}

/// Free text (an error message, a log line) with every URL in it scrubbed.
pub fn scrub_text(s: &str) -> String {
    if !s.contains("://") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let start = rest[..i]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map(|(p, c)| p + c.len_utf8())
            .unwrap_or(0);
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '>' | '<' | '`'))
            .map(|p| i + p)
            .unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        out.push_str(&scrub_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_url_passwords_and_token_parameters() {
        assert_eq!(
            scrub_url("http://u:p@host:9200/x"),
            format!("http://u:{SCRUBBED}@host:9200/x")
        );
        assert_eq!(scrub_url("http://host:9200/x@y"), "http://host:9200/x@y");
        assert_eq!(scrub_url("http://user@host"), "http://user@host");
        assert_eq!(scrub_url("not a url"), "not a url");
        assert_eq!(
            scrub_url("https://h/p?a=1&access_token=abc&api_key=k&x=&sig=s#f"),
            format!(
                "https://h/p?a=1&access_token={SCRUBBED}&api_key={SCRUBBED}&x=&sig={SCRUBBED}#f"
            )
        );
    }

    #[test]
    fn secrets_keep_empty_and_env_references() {
        assert_eq!(scrub_secret(""), "");
        assert_eq!(scrub_secret("${PASSWORD}"), "${PASSWORD}");
        assert_eq!(scrub_secret("hunter2"), SCRUBBED);
        assert_eq!(scrub_secret("${A}${B}"), SCRUBBED);
    }

    #[test]
    fn credential_names() {
        for n in [
            "Authorization",
            "Cookie",
            "X-Api-Key",
            "x-auth-token",
            "client_secret",
        ] {
            assert!(is_credential_name(n), "{n}");
        }
        for n in ["Content-Type", "Accept", "X-Request-Id"] {
            assert!(!is_credential_name(n), "{n}");
        }
    }

    #[test]
    fn scrubs_urls_inside_text() {
        assert_eq!(
            scrub_text("error sending request for url (http://u:pw@h:1/_bulk?token=t): refused"),
            format!("error sending request for url (http://u:{SCRUBBED}@h:1/_bulk?token={SCRUBBED}): refused")
        );
        assert_eq!(scrub_text("no urls here"), "no urls here");
        assert_eq!(scrub_text("é://x"), "é://x");
    }
}
