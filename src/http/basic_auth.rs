//! `http.basic_auth`: HTTP basic authentication for every route of the service's server, with
//! Redpanda Connect's settings: the password hash is base64 of the raw digest (`md5`,
//! `sha256`), of the bcrypt string (`bcrypt`), or of the scrypt key (N=32768, r=8, p=1, 32
//! bytes) derived with the base64 `salt` (`scrypt`).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::middleware::Next;
use base64::Engine;
use sha2::Digest;
use subtle::ConstantTimeEq;

/// The hash algorithm of `password_hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Md5,
    Sha256,
    Bcrypt,
    Scrypt,
}

/// Validated basic-auth settings.
#[derive(Debug)]
pub struct BasicAuth {
    realm: String,
    username: String,
    /// The decoded `password_hash` (`None` when it is not base64: every request then gets
    /// 500, as in the reference, whose check fails at request time).
    hash: Option<Vec<u8>>,
    algorithm: Algorithm,
    salt: Vec<u8>,
    /// SHA-256 digests of `Authorization` values already accepted, so slow hashes (bcrypt,
    /// scrypt) run once per credential rather than once per request.
    accepted: Mutex<Vec<[u8; 32]>>,
    /// Bounds the slow hash checks running at once (scrypt takes 32 MiB each): beyond it,
    /// requests get 503 at once instead of queueing memory and threads.
    slow_checks: Arc<tokio::sync::Semaphore>,
}

/// How many credential checks may run at once.
const SLOW_CHECKS: usize = 4;

/// How many accepted credentials [`BasicAuth`] remembers.
const ACCEPTED_CAP: usize = 64;

/// What the check decided.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Allowed,
    Denied,
    Broken,
}

impl BasicAuth {
    /// Validates the settings as the reference does (same messages).
    pub fn new(
        realm: &str,
        username: &str,
        password_hash: &str,
        algorithm: &str,
        salt: &str,
    ) -> Result<BasicAuth, String> {
        if username.is_empty() || password_hash.is_empty() {
            return Err("both username and password_hash are required".into());
        }
        let algorithm = match algorithm {
            "md5" => Algorithm::Md5,
            "sha256" => Algorithm::Sha256,
            "bcrypt" => Algorithm::Bcrypt,
            "scrypt" => Algorithm::Scrypt,
            _ => return Err("algorithm should be one of md5, sha256, bcrypt, or scrypt".into()),
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = if algorithm == Algorithm::Scrypt {
            if salt.is_empty() {
                return Err("salt is required for scrypt".into());
            }
            b64.decode(salt)
                .map_err(|e| format!("invalid salt : {}", e))?
        } else {
            Vec::new()
        };
        Ok(BasicAuth {
            realm: realm.to_string(),
            username: username.to_string(),
            hash: b64.decode(password_hash).ok(),
            algorithm,
            salt,
            accepted: Mutex::new(Vec::new()),
            slow_checks: Arc::new(tokio::sync::Semaphore::new(SLOW_CHECKS)),
        })
    }

    /// Whether these credentials were accepted before (cheap: no hashing of the password).
    fn remembered(&self, authorization: Option<&[u8]>) -> bool {
        let digest: [u8; 32] = sha2::Sha256::digest(authorization.unwrap_or_default()).into();
        self.accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&digest)
    }

    /// Checks the credentials of an `Authorization` header value (missing = empty user and
    /// password). Slow hashes run here: call it off the async workers.
    fn check(&self, authorization: Option<&[u8]>) -> Verdict {
        let digest: [u8; 32] = sha2::Sha256::digest(authorization.unwrap_or_default()).into();
        if self.remembered(authorization) {
            return Verdict::Allowed;
        }
        let (user, pass) = authorization.and_then(credentials).unwrap_or_default();
        let Some(hash) = &self.hash else {
            return Verdict::Broken;
        };
        let user_ok: bool = user.as_bytes().ct_eq(self.username.as_bytes()).into();
        let pass_ok = match self.algorithm {
            Algorithm::Md5 => bool::from(md5::Md5::digest(pass.as_bytes()).as_slice().ct_eq(hash)),
            Algorithm::Sha256 => {
                bool::from(sha2::Sha256::digest(pass.as_bytes()).as_slice().ct_eq(hash))
            }
            Algorithm::Bcrypt => match std::str::from_utf8(hash) {
                Ok(h) => bcrypt::verify(pass.as_bytes(), h).unwrap_or(false),
                Err(_) => return Verdict::Broken,
            },
            Algorithm::Scrypt => {
                let Ok(params) = scrypt::Params::new(15, 8, 1, 32) else {
                    return Verdict::Broken;
                };
                let mut key = [0u8; 32];
                if scrypt::scrypt(pass.as_bytes(), &self.salt, &params, &mut key).is_err() {
                    return Verdict::Broken;
                }
                bool::from(key.as_slice().ct_eq(hash))
            }
        };
        if user_ok && pass_ok {
            let mut accepted = self.accepted.lock().unwrap_or_else(|p| p.into_inner());
            if accepted.len() >= ACCEPTED_CAP {
                accepted.remove(0);
            }
            accepted.push(digest);
            Verdict::Allowed
        } else {
            Verdict::Denied
        }
    }

    fn unauthorized(&self) -> Response<Body> {
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(
                header::WWW_AUTHENTICATE,
                format!("Basic realm={:?}, charset=\"UTF-8\"", self.realm),
            )
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header("X-Content-Type-Options", "nosniff")
            .body(Body::from("Unauthorized\n"))
            .unwrap_or_default()
    }
}

/// The user and password of a `Basic` authorization value.
fn credentials(value: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(value).ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// The middleware: 401 with `WWW-Authenticate` unless the request's credentials match.
pub async fn require(
    axum::extract::State(auth): axum::extract::State<Arc<BasicAuth>>,
    req: Request<Body>,
    next: Next,
) -> Response<Body> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let verdict = if auth.remembered(value.as_deref()) {
        Verdict::Allowed
    } else if auth.algorithm == Algorithm::Md5 || auth.algorithm == Algorithm::Sha256 {
        auth.check(value.as_deref())
    } else {
        let Ok(permit) = auth.slow_checks.clone().try_acquire_owned() else {
            return Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .header(header::RETRY_AFTER, "1")
                .body(Body::from("Too many authentication attempts in progress\n"))
                .unwrap_or_default();
        };
        let checker = auth.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            checker.check(value.as_deref())
        })
        .await
        .unwrap_or(Verdict::Broken)
    };
    match verdict {
        Verdict::Allowed => next.run(req).await,
        Verdict::Denied => auth.unauthorized(),
        Verdict::Broken => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Body::from("Internal Server Error\n"))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user, pass))
        )
        .into_bytes()
    }

    /// Upstream's test table (internal/api/api_test.go): password `secret`.
    #[test]
    fn upstream_hashes_accept_the_right_password_only() {
        let salt = "EzrwNJYw2wkErVVV1P36FQ==";
        for (algorithm, hash) in [
            ("sha256", "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="),
            ("md5", "Xr4ilOzQ4PCOq3aQ0qbuaQ=="),
            (
                "bcrypt",
                "JDJhJDEwJHRDMWs2NHc5VjA0R3JIdEE2QzQ2SC5na3o3WWNUUWlQc1RNbVNCUU8yOG8uSWg4YUUvaUcu",
            ),
            ("scrypt", "eJ01V0+YCJxHraokLp79ijKS0z1jzVQ3vFtGx5UEEiY="),
        ] {
            let auth = BasicAuth::new("restricted", "myuser", hash, algorithm, salt).unwrap();
            assert_eq!(
                auth.check(Some(&header("myuser", "secret"))),
                Verdict::Allowed,
                "{algorithm}"
            );
            assert_eq!(
                auth.check(Some(&header("myuser", "wrong"))),
                Verdict::Denied,
                "{algorithm}"
            );
            assert_eq!(
                auth.check(Some(&header("other", "secret"))),
                Verdict::Denied,
                "{algorithm}"
            );
            assert_eq!(auth.check(None), Verdict::Denied, "{algorithm}");
        }
    }

    #[test]
    fn settings_are_validated_with_the_reference_messages() {
        assert_eq!(
            BasicAuth::new("r", "", "x", "sha256", "").unwrap_err(),
            "both username and password_hash are required"
        );
        assert_eq!(
            BasicAuth::new("r", "u", "x", "sha1", "").unwrap_err(),
            "algorithm should be one of md5, sha256, bcrypt, or scrypt"
        );
        assert_eq!(
            BasicAuth::new("r", "u", "x", "scrypt", "").unwrap_err(),
            "salt is required for scrypt"
        );
        assert!(BasicAuth::new("r", "u", "x", "scrypt", "!!")
            .unwrap_err()
            .starts_with("invalid salt"));
    }
}
