//! Signing-key material: generation (aws-lc-rs) and conversion to jsonwebtoken keys and
//! public JWKs. RS256 (required by OpenID Connect), ES256 and EdDSA (Ed25519).

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, jwk::Jwk};

/// A signing algorithm Gatehouse offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Alg {
    RS256,
    ES256,
    EdDSA,
}

impl Alg {
    /// Every algorithm, RS256 first (the OpenID Connect default).
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The jsonwebtoken algorithm.
    pub fn jwt(self) -> Algorithm {
        match self {
            Alg::RS256 => Algorithm::RS256,
            Alg::ES256 => Algorithm::ES256,
            Alg::EdDSA => Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Alg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" => Ok(Alg::RS256),
            "ES256" => Ok(Alg::ES256),
            "EdDSA" => Ok(Alg::EdDSA),
            other => Err(format!("{other:?} is not one of RS256, ES256, EdDSA")),
        }
    }
}

/// Key material errors.
#[derive(Debug, thiserror::Error)]
#[error("signing key: {0}")]
pub struct KeyMaterialError(pub String);

/// Generates a private key as PKCS#8 DER.
pub fn generate(alg: Alg) -> Result<Vec<u8>, KeyMaterialError> {
    use aws_lc_rs::encoding::AsDer;
    let err = |e: aws_lc_rs::error::Unspecified| KeyMaterialError(format!("{alg} key generation failed: {e}"));
    match alg {
        Alg::RS256 => {
            let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(err)?;
            Ok(kp.as_der().map_err(err)?.as_ref().to_vec())
        }
        Alg::ES256 => {
            let kp =
                aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(err)?;
            Ok(kp.to_pkcs8v1().map_err(err)?.as_ref().to_vec())
        }
        Alg::EdDSA => {
            let kp = aws_lc_rs::signature::Ed25519KeyPair::generate().map_err(err)?;
            // jsonwebtoken's JWK export wants the 48-byte PKCS#8 v1 form.
            Ok(kp.to_pkcs8v1().map_err(err)?.as_ref().to_vec())
        }
    }
}

/// The jsonwebtoken signing key for PKCS#8 DER.
pub fn encoding_key(alg: Alg, pkcs8: &[u8]) -> Result<EncodingKey, KeyMaterialError> {
    match alg {
        // jsonwebtoken's RSA signer wants PKCS#1; its PEM reader unwraps PKCS#8.
        Alg::RS256 => {
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                STANDARD.encode(pkcs8)
            );
            EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| KeyMaterialError(e.to_string()))
        }
        Alg::ES256 => Ok(EncodingKey::from_ec_der(pkcs8)),
        Alg::EdDSA => Ok(EncodingKey::from_ed_der(pkcs8)),
    }
}

/// A private key parsed once, ready to sign. jsonwebtoken parses the PKCS#8 document
/// again for every signature (and derives the public key from it), which cost as much as
/// the signature itself; a token endpoint signs with the same key thousands of times.
pub enum SigningKey {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(aws_lc_rs::signature::EcdsaKeyPair),
    Ed(aws_lc_rs::signature::Ed25519KeyPair),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rsa(_) => "SigningKey(RS256)",
            Self::Ec(_) => "SigningKey(ES256)",
            Self::Ed(_) => "SigningKey(EdDSA)",
        })
    }
}

impl SigningKey {
    /// Parses a PKCS#8 private key of `alg`.
    pub fn from_pkcs8(alg: Alg, der: &[u8]) -> Result<Self, KeyMaterialError> {
        let err = |e: &dyn fmt::Display| KeyMaterialError(format!("{alg} private key: {e}"));
        Ok(match alg {
            Alg::RS256 => Self::Rsa(aws_lc_rs::rsa::KeyPair::from_pkcs8(der).map_err(|e| err(&e))?),
            Alg::ES256 => Self::Ec(
                aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                )
                .map_err(|e| err(&e))?,
            ),
            Alg::EdDSA => {
                Self::Ed(aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| err(&e))?)
            }
        })
    }

    /// The JWS signature of `msg` (RFC 7518 §3.3, §3.4 fixed-size `r || s`; RFC 8037).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyMaterialError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let err = |e: aws_lc_rs::error::Unspecified| KeyMaterialError(format!("signing failed: {e}"));
        match self {
            Self::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map_err(err)?;
                Ok(sig)
            }
            Self::Ec(k) => Ok(k.sign(&rng, msg).map_err(err)?.as_ref().to_vec()),
            Self::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }

    /// A compact JWS of `claims` under `header`.
    pub fn jwt<T: serde::Serialize>(
        &self,
        header: &jsonwebtoken::Header,
        claims: &T,
    ) -> Result<String, KeyMaterialError> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let err = |e: serde_json::Error| KeyMaterialError(e.to_string());
        let mut out = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).map_err(err)?);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims).map_err(err)?, &mut out);
        let sig = self.sign(out.as_bytes())?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(sig, &mut out);
        Ok(out)
    }
}

/// The public JWK of a key, with `kid`, `use: sig` and `alg` set.
pub fn public_jwk(alg: Alg, kid: &str, key: &EncodingKey) -> Result<Jwk, KeyMaterialError> {
    let mut jwk = Jwk::from_encoding_key(key, alg.jwt()).map_err(|e| KeyMaterialError(e.to_string()))?;
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
    Ok(jwk)
}

/// The verification key of a public JWK.
pub fn decoding_key(jwk: &Jwk) -> Result<DecodingKey, KeyMaterialError> {
    DecodingKey::from_jwk(jwk).map_err(|e| KeyMaterialError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies_through_its_public_jwk() {
        for alg in Alg::ALL {
            let der = generate(alg).unwrap();
            let enc = encoding_key(alg, &der).unwrap();
            let jwk = public_jwk(alg, "k1", &enc).unwrap();
            let json = serde_json::to_value(&jwk).unwrap();
            assert_eq!(json["kid"], "k1");
            assert_eq!(json["use"], "sig");
            assert_eq!(json["alg"], alg.as_str());
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(json.get(private).is_none(), "{alg}: private member {private} in JWK");
            }
            let mut header = jsonwebtoken::Header::new(alg.jwt());
            header.kid = Some("k1".into());
            let token =
                jsonwebtoken::encode(&header, &serde_json::json!({"sub": "x", "exp": 4_000_000_000u64}), &enc).unwrap();
            let dec = decoding_key(&jwk).unwrap();
            let mut v = jsonwebtoken::Validation::new(alg.jwt());
            v.validate_aud = false;
            let data = jsonwebtoken::decode::<serde_json::Value>(&token, &dec, &v).unwrap();
            assert_eq!(data.claims["sub"], "x");
            // The key parsed once signs what jsonwebtoken verifies, byte for byte the
            // same header and claims.
            let ours = SigningKey::from_pkcs8(alg, &der)
                .unwrap()
                .jwt(&header, &serde_json::json!({"sub": "y", "exp": 4_000_000_000u64}))
                .unwrap();
            assert_eq!(ours.split('.').next(), token.split('.').next(), "{alg}: same header");
            let data = jsonwebtoken::decode::<serde_json::Value>(&ours, &dec, &v).unwrap();
            assert_eq!(data.claims["sub"], "y");
            let mut forged = ours.clone();
            forged.replace_range(forged.len() - 4.., "AAAA");
            assert!(jsonwebtoken::decode::<serde_json::Value>(&forged, &dec, &v).is_err());
        }
    }
}
