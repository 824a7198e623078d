//! Standard library: JSON Web Tokens (`parse_jwt_*` verifies and returns the claims,
//! `sign_jwt_*` signs claims), for HMAC, RSA PKCS#1 v1.5 and ECDSA (P-256/384/521).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;

use super::coerce::{as_object, as_str};
use super::{MethodSpec, Param, Type};
use crate::error::EvalError;
use crate::interp::Call;
use crate::value::{Object, Value};

/// A JWT signing algorithm.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Alg {
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
    Es512,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
        }
    }
}

/// Declares the parse and sign methods of one algorithm.
macro_rules! jwt {
    ($parse:expr, $sign:expr, $alg:expr) => {
        [
            MethodSpec {
                name: $parse,
                params: &[Param::req("signing_secret")],
                returns: Type::Object,
                pure: true,
                imp: |c, v| parse(c, v, $alg),
            },
            MethodSpec {
                name: $sign,
                params: &[Param::req("signing_secret"), Param::opt("headers")],
                returns: Type::Str,
                pure: false,
                imp: |c, v| sign(c, v, $alg),
            },
        ]
    };
}

const HS256: [MethodSpec; 2] = jwt!("parse_jwt_hs256", "sign_jwt_hs256", Alg::Hs256);
const HS384: [MethodSpec; 2] = jwt!("parse_jwt_hs384", "sign_jwt_hs384", Alg::Hs384);
const HS512: [MethodSpec; 2] = jwt!("parse_jwt_hs512", "sign_jwt_hs512", Alg::Hs512);
const RS256: [MethodSpec; 2] = jwt!("parse_jwt_rs256", "sign_jwt_rs256", Alg::Rs256);
const RS384: [MethodSpec; 2] = jwt!("parse_jwt_rs384", "sign_jwt_rs384", Alg::Rs384);
const RS512: [MethodSpec; 2] = jwt!("parse_jwt_rs512", "sign_jwt_rs512", Alg::Rs512);
const ES256: [MethodSpec; 2] = jwt!("parse_jwt_es256", "sign_jwt_es256", Alg::Es256);
const ES384: [MethodSpec; 2] = jwt!("parse_jwt_es384", "sign_jwt_es384", Alg::Es384);
const ES512: [MethodSpec; 2] = jwt!("parse_jwt_es512", "sign_jwt_es512", Alg::Es512);

/// The methods of this family.
pub static METHODS: &[MethodSpec] = &[
    HS256[0], HS256[1], HS384[0], HS384[1], HS512[0], HS512[1], RS256[0], RS256[1], RS384[0],
    RS384[1], RS512[0], RS512[1], ES256[0], ES256[1], ES384[0], ES384[1], ES512[0], ES512[1],
];

fn err(msg: impl std::fmt::Display) -> EvalError {
    EvalError::new(format!("failed to parse JWT: {}", msg))
}

fn hmac_sig<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m =
        <M as hmac::digest::KeyInit>::new_from_slice(key).expect("hmac accepts any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn rsa_public(pem: &str) -> Result<rsa::RsaPublicKey, EvalError> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    rsa::RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
        .map_err(|e| err(format!("invalid RSA public key: {}", e)))
}

fn rsa_private(pem: &str) -> Result<rsa::RsaPrivateKey, EvalError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    rsa::RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|e| EvalError::new(format!("invalid RSA private key: {}", e)))
}

fn rsa_verify<D>(pem: &str, msg: &[u8], sig: &[u8]) -> Result<bool, EvalError>
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    use rsa::signature::Verifier;
    let key = rsa::pkcs1v15::VerifyingKey::<D>::new(rsa_public(pem)?);
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig) else {
        return Ok(false);
    };
    Ok(key.verify(msg, &sig).is_ok())
}

fn rsa_sign<D>(pem: &str, msg: &[u8]) -> Result<Vec<u8>, EvalError>
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    use rsa::signature::{SignatureEncoding, Signer};
    let key = rsa::pkcs1v15::SigningKey::<D>::new(rsa_private(pem)?);
    Ok(key.sign(msg).to_vec())
}

/// Verifies or signs with one elliptic curve.
macro_rules! ec_impl {
    ($verify:ident, $sign:ident, $curve:ident) => {
        fn $verify(pem: &str, msg: &[u8], sig: &[u8]) -> Result<bool, EvalError> {
            use $curve::ecdsa::signature::Verifier;
            use $curve::pkcs8::DecodePublicKey;
            let pk = $curve::PublicKey::from_public_key_pem(pem)
                .map_err(|e| err(format!("invalid EC public key: {}", e)))?;
            let vk = $curve::ecdsa::VerifyingKey::from_affine(*pk.as_affine())
                .map_err(|e| err(format!("invalid EC public key: {}", e)))?;
            let Ok(sig) = $curve::ecdsa::Signature::from_slice(sig) else {
                return Ok(false);
            };
            Ok(vk.verify(msg, &sig).is_ok())
        }

        fn $sign(pem: &str, msg: &[u8]) -> Result<Vec<u8>, EvalError> {
            use $curve::ecdsa::signature::Signer;
            use $curve::pkcs8::DecodePrivateKey;
            let sk = $curve::SecretKey::from_pkcs8_pem(pem)
                .or_else(|_| $curve::SecretKey::from_sec1_pem(pem))
                .map_err(|e| EvalError::new(format!("invalid EC private key: {}", e)))?;
            let key = $curve::ecdsa::SigningKey::from_bytes(&sk.to_bytes())
                .map_err(|e| EvalError::new(format!("invalid EC private key: {}", e)))?;
            let sig: $curve::ecdsa::Signature = key.sign(msg);
            Ok(sig.to_bytes().to_vec())
        }
    };
}

ec_impl!(es256_verify, es256_sign, p256);
ec_impl!(es384_verify, es384_sign, p384);
ec_impl!(es512_verify, es512_sign, p521);

/// Checks a signature over `msg` with the algorithm's key.
fn verify(alg: Alg, secret: &str, msg: &[u8], sig: &[u8]) -> Result<bool, EvalError> {
    match alg {
        Alg::Hs256 => Ok(hmac_sig::<hmac::Hmac<sha2::Sha256>>(secret.as_bytes(), msg) == sig),
        Alg::Hs384 => Ok(hmac_sig::<hmac::Hmac<sha2::Sha384>>(secret.as_bytes(), msg) == sig),
        Alg::Hs512 => Ok(hmac_sig::<hmac::Hmac<sha2::Sha512>>(secret.as_bytes(), msg) == sig),
        Alg::Rs256 => rsa_verify::<sha2::Sha256>(secret, msg, sig),
        Alg::Rs384 => rsa_verify::<sha2::Sha384>(secret, msg, sig),
        Alg::Rs512 => rsa_verify::<sha2::Sha512>(secret, msg, sig),
        Alg::Es256 => es256_verify(secret, msg, sig),
        Alg::Es384 => es384_verify(secret, msg, sig),
        Alg::Es512 => es512_verify(secret, msg, sig),
    }
}

/// Signs `msg` with the algorithm's key.
fn signature(alg: Alg, secret: &str, msg: &[u8]) -> Result<Vec<u8>, EvalError> {
    match alg {
        Alg::Hs256 => Ok(hmac_sig::<hmac::Hmac<sha2::Sha256>>(secret.as_bytes(), msg)),
        Alg::Hs384 => Ok(hmac_sig::<hmac::Hmac<sha2::Sha384>>(secret.as_bytes(), msg)),
        Alg::Hs512 => Ok(hmac_sig::<hmac::Hmac<sha2::Sha512>>(secret.as_bytes(), msg)),
        Alg::Rs256 => rsa_sign::<sha2::Sha256>(secret, msg),
        Alg::Rs384 => rsa_sign::<sha2::Sha384>(secret, msg),
        Alg::Rs512 => rsa_sign::<sha2::Sha512>(secret, msg),
        Alg::Es256 => es256_sign(secret, msg),
        Alg::Es384 => es384_sign(secret, msg),
        Alg::Es512 => es512_sign(secret, msg),
    }
}

fn decode_part(part: &str) -> Result<Value, EvalError> {
    let raw = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(err)?;
    Value::from_json_slice(&raw).map_err(err)
}

fn parse(c: &mut Call, v: Value, alg: Alg) -> Result<Value, EvalError> {
    let secret = c.string(0)?;
    let token = as_str(&v)?;
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, sig] = parts.as_slice() else {
        return Err(err("token contains an invalid number of segments"));
    };
    let head = decode_part(header)?;
    let head_alg = match &head {
        Value::Object(o) => o
            .get("alg")
            .map(Value::to_display_string)
            .unwrap_or_default(),
        _ => String::new(),
    };
    if head_alg != alg.name() {
        return Err(err(format!("signing method {} is invalid", head_alg)));
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig.trim_end_matches('='))
        .map_err(err)?;
    let signed = format!("{}.{}", header, claims);
    if !verify(alg, &secret, signed.as_bytes(), &sig)? {
        return Err(err("token signature is invalid"));
    }
    let claims = decode_part(claims)?;
    as_object(&claims).map_err(|_| err("claims are not an object"))?;
    Ok(claims)
}

fn sign(c: &mut Call, v: Value, alg: Alg) -> Result<Value, EvalError> {
    let secret = c.string(0)?;
    let mut header = Object::new();
    if let Some(extra) = c.opt_value(1)? {
        header.extend(as_object(&extra)?.clone());
    }
    header.insert("alg".into(), Value::str(alg.name()));
    header.insert("typ".into(), Value::str("JWT"));
    as_object(&v)?;
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(Value::Object(header).to_json_string()),
        URL_SAFE_NO_PAD.encode(v.to_json_string())
    );
    let sig = signature(alg, &secret, signed.as_bytes())?;
    Ok(Value::Str(format!(
        "{}.{}",
        signed,
        URL_SAFE_NO_PAD.encode(sig)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_round_trip() {
        let msg = b"a.b";
        let sig = signature(Alg::Hs256, "secret", msg).unwrap();
        assert!(verify(Alg::Hs256, "secret", msg, &sig).unwrap());
        assert!(!verify(Alg::Hs256, "other", msg, &sig).unwrap());
    }
}
